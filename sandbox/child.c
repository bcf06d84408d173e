#include "sandbox/sandbox.h"
