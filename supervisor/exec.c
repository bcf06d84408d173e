#include "supervisor/verbs.h"
int verb_exec(int argc, char **argv) { return 1; }
