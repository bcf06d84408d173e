/* SPDX-License-Identifier: MIT */
/* Networking of a step.
 *
 * How this works:
 *   parent, before clone   net_prepare(): parse spec->bridge (address,
 *                          prefix, gateway) into a plain struct the child
 *                          can use without allocating.
 *   parent, after clone    net_veth_setup(): one libnl-route socket; look up
 *                          the bridge (must exist and be a bridge), then ONE
 *                          RTM_NEWLINK (NLM_F_CREATE|NLM_F_EXCL) creating a
 *                          veth pair whose host end is named from the step
 *                          id, enslaved to the bridge and up, and whose peer
 *                          is born as "eth0" directly in the network
 *                          namespace of the child (IFLA_NET_NS_PID). The
 *                          kernel creates or rolls back that whole message,
 *                          and a guard deletes the host end if a later step
 *                          fails.
 *   child, after "go"      net_apply(): ioctls only (no allocation): lo up;
 *                          for bridge also eth0 address, netmask, up, and a
 *                          default route via the gateway.
 *   teardown               net_veth_free(): delete the host end if it still
 *                          exists (it vanishes with the namespace anyway).
 *
 * Host end name: "sd" + 10 hex digits (the low 40 bits of the FNV-1a 64 hash
 * of the step id) = 12 bytes, within IFNAMSIZ (15 + NUL). Step ids may be 64
 * bytes, so they cannot be used verbatim; a collision (two live steps with
 * the same 40-bit hash) fails the second step with EEXIST, never touches the
 * first one's interface.
 *
 * libnl errors are converted to -errno once, in nl_fail(): an error callback
 * on the socket keeps the kernel's own errno (libnl folds many into
 * NLE_FAILURE), and err keeps nl_geterror()'s text. */
#include "sandbox/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/if.h>
#include <net/route.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

#define NET_PEER_NAME "eth0"

struct net_veth {
        char name[IFNAMSIZ];
        int ifindex;
};

/* ---- parent: parsing --------------------------------------------------- */

static int fail(char *err, size_t err_len, int r, const char *fmt, ...) _printf_(4, 5);
static int fail(char *err, size_t err_len, int r, const char *fmt, ...)
{
        va_list ap;

        if (err && err_len > 0) {
                va_start(ap, fmt);
                vsnprintf(err, err_len, fmt, ap);
                va_end(ap);
        }
        return r;
}

/* The kernel's dev_valid_name(): 1..15 bytes, not "." or "..", no '/',
 * ':' or white space. */
static bool ifname_valid(const char *s)
{
        size_t n;

        if (!s)
                return false;
        n = strlen(s);
        if (n == 0 || n >= IFNAMSIZ || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
                return false;
        for (const char *p = s; *p; p++)
                if (*p == '/' || *p == ':' || *p <= ' ' || *p == 0x7f)
                        return false;
        return true;
}

static int parse_ipv4(const char *s, struct in_addr *ret)
{
        struct in_addr a;

        if (!s || inet_pton(AF_INET, s, &a) != 1)
                return -EINVAL;
        *ret = a;
        return 0;
}

static uint32_t prefix_mask(unsigned prefix_len) /* host order */
{
        return prefix_len == 0 ? 0 : UINT32_MAX << (32 - prefix_len);
}

/* "a.b.c.d/N", N in 1..32, plain decimal digits only. */
static int parse_cidr(const char *s, struct in_addr *ret_addr, unsigned *ret_prefix)
{
        char buf[INET_ADDRSTRLEN];
        const char *slash = s ? strchr(s, '/') : NULL;
        unsigned prefix = 0;
        size_t n;

        if (!slash || (size_t)(slash - s) >= sizeof(buf))
                return -EINVAL;
        n = strlen(slash + 1);
        if (n < 1 || n > 2)
                return -EINVAL;
        for (const char *p = slash + 1; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                prefix = prefix * 10 + (unsigned)(*p - '0');
        }
        if (prefix < 1 || prefix > 32)
                return -ERANGE;
        memcpy(buf, s, (size_t)(slash - s));
        buf[slash - s] = 0;
        if (parse_ipv4(buf, ret_addr) < 0)
                return -EINVAL;
        *ret_prefix = prefix;
        return 0;
}

/* A unicast host address usable on eth0: not 0/8, loopback, multicast or
 * reserved, and (for prefixes up to /30) not the network or broadcast one. */
static const char *address_problem(struct in_addr a, unsigned prefix_len)
{
        uint32_t h = ntohl(a.s_addr), host_mask = ~prefix_mask(prefix_len);

        if ((h >> 24) == 0)
                return "is in 0.0.0.0/8";
        if ((h >> 24) == 127)
                return "is a loopback address";
        if ((h >> 28) >= 0xe)
                return "is a multicast or reserved address";
        if (prefix_len <= 30 && (h & host_mask) == 0)
                return "is the network address of its subnet";
        if (prefix_len <= 30 && (h & host_mask) == host_mask)
                return "is the broadcast address of its subnet";
        return NULL;
}

static int prepare_bridge(const struct net_bridge *b, struct net_child_config *c, char *err,
                          size_t err_len)
{
        const char *problem;
        uint32_t mask;
        int r;

        if (!b->bridge || !*b->bridge)
                return fail(err, err_len, -EINVAL, "network mode bridge needs a bridge name");
        if (!ifname_valid(b->bridge))
                return fail(err, err_len, -EINVAL,
                            "bridge name '%.64s' is not a valid interface name "
                            "(1..15 bytes, no '/', ':' or spaces)",
                            b->bridge);
        if (!b->address || !*b->address)
                return fail(err, err_len, -EINVAL,
                            "network mode bridge needs an address (a.b.c.d/N)");
        r = parse_cidr(b->address, &c->address, &c->prefix_len);
        if (r == -ERANGE)
                return fail(err, err_len, -EINVAL,
                            "address '%.64s': prefix length must be 1..32", b->address);
        if (r < 0)
                return fail(err, err_len, -EINVAL,
                            "address '%.64s' is not an IPv4 address with prefix (a.b.c.d/N)",
                            b->address);
        problem = address_problem(c->address, c->prefix_len);
        if (problem)
                return fail(err, err_len, -EINVAL, "address '%s' %s", b->address, problem);
        if (!b->gateway)
                return 0;
        if (parse_ipv4(b->gateway, &c->gateway) < 0)
                return fail(err, err_len, -EINVAL, "gateway '%.64s' is not an IPv4 address",
                            b->gateway);
        mask = htonl(prefix_mask(c->prefix_len));
        if ((c->gateway.s_addr & mask) != (c->address.s_addr & mask) ||
            address_problem(c->gateway, c->prefix_len))
                return fail(err, err_len, -EINVAL,
                            "gateway '%s' is not a host inside the subnet of %s", b->gateway,
                            b->address);
        if (c->gateway.s_addr == c->address.s_addr)
                return fail(err, err_len, -EINVAL, "gateway '%s' is the step's own address",
                            b->gateway);
        return 0;
}

int net_prepare(const struct launch_spec *spec, struct net_child_config *ret, char *err,
                size_t err_len)
{
        struct net_child_config c = { .mode = spec->net };
        int r;

        switch (spec->net) {
        case NET_NONE:
        case NET_HOST:
                break;
        case NET_BRIDGE:
                r = prepare_bridge(&spec->bridge, &c, err, err_len);
                if (r < 0)
                        return r;
                break;
        default:
                return fail(err, err_len, -EINVAL, "unknown network mode %d", (int)spec->net);
        }
        *ret = c;
        return 0;
}

/* ---- parent: libnl ----------------------------------------------------- */

static inline void nl_socket_freep(struct nl_sock **p)
{
        if (*p)
                nl_socket_free(*p);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct rtnl_link *, rtnl_link_put);

struct nl_ctx {
        struct nl_sock *sk;
        int kernel_err; /* last NLMSG_ERROR from the kernel, -errno; 0: none */
};

static void nl_ctx_done(struct nl_ctx *c)
{
        if (c->sk)
                nl_socket_free(c->sk);
        c->sk = NULL;
}

static int nl_err_cb(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
        struct nl_ctx *c = arg;

        c->kernel_err = e->error < 0 ? e->error : -e->error;
        return NL_STOP;
}

static int nle_to_errno(int nle)
{
        static const int map[] = {
                [NLE_FAILURE] = EIO,          [NLE_INTR] = EINTR,
                [NLE_BAD_SOCK] = EBADF,       [NLE_AGAIN] = EAGAIN,
                [NLE_NOMEM] = ENOMEM,         [NLE_EXIST] = EEXIST,
                [NLE_INVAL] = EINVAL,         [NLE_RANGE] = ERANGE,
                [NLE_MSGSIZE] = EMSGSIZE,     [NLE_OPNOTSUPP] = EOPNOTSUPP,
                [NLE_AF_NOSUPPORT] = EAFNOSUPPORT, [NLE_OBJ_NOTFOUND] = ENOENT,
                [NLE_NOATTR] = ENODATA,       [NLE_MISSING_ATTR] = EINVAL,
                [NLE_AF_MISMATCH] = EAFNOSUPPORT, [NLE_SEQ_MISMATCH] = EPROTO,
                [NLE_MSG_OVERFLOW] = EOVERFLOW, [NLE_MSG_TRUNC] = EMSGSIZE,
                [NLE_NOADDR] = EADDRNOTAVAIL, [NLE_SRCRT_NOSUPPORT] = EOPNOTSUPP,
                [NLE_MSG_TOOSHORT] = EPROTO,  [NLE_MSGTYPE_NOSUPPORT] = EOPNOTSUPP,
                [NLE_OBJ_MISMATCH] = EINVAL,  [NLE_NOCACHE] = ENOENT,
                [NLE_BUSY] = EBUSY,           [NLE_PROTO_MISMATCH] = EPROTONOSUPPORT,
                [NLE_NOACCESS] = EACCES,      [NLE_PERM] = EPERM,
                [NLE_PKTLOC_FILE] = ENOENT,   [NLE_PARSE_ERR] = EINVAL,
                [NLE_NODEV] = ENODEV,         [NLE_IMMUTABLE] = EPERM,
                [NLE_DUMP_INTR] = EAGAIN,     [NLE_ATTRSIZE] = EINVAL,
        };
        int i = nle < 0 ? -nle : nle;

        if (i > 0 && (size_t)i < ARRAY_SIZE(map) && map[i] > 0)
                return -map[i];
        return -EIO;
}

/* The one place libnl results become -errno: the kernel's errno when it sent
 * one (more precise than NLE_*), else the NLE_* mapping. Text: what, then
 * nl_geterror(), then the kernel's strerror when there was one. Resets
 * kernel_err for the next call. */
static int nl_fail(struct nl_ctx *c, int nle, char *err, size_t err_len, const char *what)
{
        int r = c->kernel_err < 0 ? c->kernel_err : nle_to_errno(nle);

        if (c->kernel_err < 0)
                (void)fail(err, err_len, r, "%s: %s (%s)", what, nl_geterror(nle),
                           strerror(-c->kernel_err));
        else
                (void)fail(err, err_len, r, "%s: %s", what, nl_geterror(nle));
        c->kernel_err = 0;
        return r;
}

static int nl_ctx_open(struct nl_ctx *c, char *err, size_t err_len)
{
        int r;

        *c = (struct nl_ctx){ .sk = nl_socket_alloc() };
        if (!c->sk)
                return fail(err, err_len, -ENOMEM, "netlink: cannot allocate a socket");
        r = nl_socket_modify_err_cb(c->sk, NL_CB_CUSTOM, nl_err_cb, c);
        if (r < 0)
                return nl_fail(c, r, err, err_len, "netlink: error callback");
        r = nl_connect(c->sk, NETLINK_ROUTE);
        if (r < 0)
                return nl_fail(c, r, err, err_len, "netlink: connect");
        /* libnl opens without SOCK_CLOEXEC; a daemon that forks must not leak it. */
        if (fcntl(nl_socket_get_fd(c->sk), F_SETFD, FD_CLOEXEC) < 0)
                return fail(err, err_len, negative_errno(), "netlink: FD_CLOEXEC: %m");
        return 0;
}

/* "sd" + 10 hex digits of FNV-1a 64(step_id); see the top comment. */
static void veth_host_name(const char *step_id, char ret[static IFNAMSIZ])
{
        uint64_t h = UINT64_C(0xcbf29ce484222325);

        for (const unsigned char *p = (const unsigned char *)step_id; *p; p++)
                h = (h ^ *p) * UINT64_C(0x100000001b3);
        snprintf(ret, IFNAMSIZ, "sd%010" PRIx64, h & UINT64_C(0xffffffffff));
}

/* The bridge's ifindex, or a clear error when it is missing or no bridge. */
static int bridge_ifindex(struct nl_ctx *c, const char *name, char *err, size_t err_len)
{
        _cleanup_(rtnl_link_putp) struct rtnl_link *br = NULL;
        char what[64];
        const char *type;
        int r;

        r = rtnl_link_get_kernel(c->sk, 0, name, &br);
        if (r < 0) {
                snprintf(what, sizeof(what), "looking up bridge '%s'", name);
                r = nl_fail(c, r, err, err_len, what);
                if (r == -ENODEV || r == -ENOENT)
                        return fail(err, err_len, -ENODEV, "bridge '%s' does not exist", name);
                return r;
        }
        type = rtnl_link_get_type(br);
        if (!type || strcmp(type, "bridge") != 0)
                return fail(err, err_len, -EINVAL, "interface '%s' is not a bridge (type %s)",
                            name, type ? type : "none");
        return rtnl_link_get_ifindex(br);
}

/* Refuse a pid in our own network namespace: eth0 would land on the host. */
static int check_other_netns(pid_t pid, char *err, size_t err_len)
{
        char path[64];
        struct stat self, other;

        snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
        if (stat("/proc/self/ns/net", &self) < 0)
                return fail(err, err_len, negative_errno(), "/proc/self/ns/net: %m");
        if (stat(path, &other) < 0)
                return fail(err, err_len, negative_errno(), "%s: %m", path);
        if (self.st_dev == other.st_dev && self.st_ino == other.st_ino)
                return fail(err, err_len, -EINVAL,
                            "process %d shares our network namespace; refusing to create %s there",
                            (int)pid, NET_PEER_NAME);
        return 0;
}

/* One RTM_NEWLINK: veth `name` (master br_ifindex, up), peer "eth0" in pid's
 * netns. NLM_F_EXCL: an existing `name` is never ours and stays untouched. */
static int veth_create(struct nl_ctx *c, const char *name, int br_ifindex, pid_t pid, char *err,
                       size_t err_len)
{
        _cleanup_(rtnl_link_putp) struct rtnl_link *link = rtnl_link_veth_alloc();
        struct rtnl_link *peer;
        char what[96];
        int r;

        if (!link)
                return fail(err, err_len, -ENOMEM, "veth '%s': out of memory", name);
        peer = rtnl_link_veth_get_peer(link);
        rtnl_link_set_name(link, name);
        rtnl_link_set_master(link, br_ifindex);
        rtnl_link_set_flags(link, IFF_UP);
        rtnl_link_set_name(peer, NET_PEER_NAME);
        rtnl_link_set_ns_pid(peer, pid);
        rtnl_link_put(peer); /* rtnl_link_veth_get_peer() took a reference */
        r = rtnl_link_add(c->sk, link, NLM_F_CREATE | NLM_F_EXCL);
        if (r < 0) {
                snprintf(what, sizeof(what), "creating veth '%s' (peer %s in pid %d)", name,
                         NET_PEER_NAME, (int)pid);
                r = nl_fail(c, r, err, err_len, what);
                if (r == -EEXIST)
                        return fail(err, err_len, r,
                                    "veth '%s' already exists (step id hash collision or a "
                                    "leftover of an earlier step)", name);
                return r;
        }
        return 0;
}

static int veth_delete(struct nl_ctx *c, const struct net_veth *v)
{
        _cleanup_(rtnl_link_putp) struct rtnl_link *cur = NULL;
        int r;

        r = rtnl_link_get_kernel(c->sk, 0, v->name, &cur);
        if (r < 0)
                return nl_fail(c, r, NULL, 0, "");
        if (rtnl_link_get_ifindex(cur) != v->ifindex)
                return -ESTALE; /* same name, another interface: not ours */
        r = rtnl_link_delete(c->sk, cur);
        return r < 0 ? nl_fail(c, r, NULL, 0, "") : 0;
}

struct net_veth *net_veth_free(struct net_veth *v)
{
        struct nl_ctx c = { 0 };

        if (!v)
                return NULL;
        /* Nothing to report to: a failure leaves at most an interface the
         * kernel removes with the step's namespace. */
        if (v->ifindex > 0 && nl_ctx_open(&c, NULL, 0) >= 0)
                (void)veth_delete(&c, v);
        nl_ctx_done(&c);
        free(v);
        return NULL;
}

static int veth_setup(struct nl_ctx *c, const struct launch_spec *spec, pid_t pid,
                      struct net_veth *v, char *err, size_t err_len)
{
        _cleanup_(rtnl_link_putp) struct rtnl_link *made = NULL;
        int br, r;

        r = check_other_netns(pid, err, err_len);
        if (r < 0)
                return r;
        r = nl_ctx_open(c, err, err_len);
        if (r < 0)
                return r;
        br = bridge_ifindex(c, spec->bridge.bridge, err, err_len);
        if (br < 0)
                return br;
        r = veth_create(c, v->name, br, pid, err, err_len);
        if (r < 0)
                return r;
        r = rtnl_link_get_kernel(c->sk, 0, v->name, &made);
        if (r >= 0)
                v->ifindex = rtnl_link_get_ifindex(made);
        if (r < 0 || v->ifindex <= 0) {
                /* Created but lost from sight: delete by name, it is ours (EXCL). */
                struct rtnl_link *byname = rtnl_link_alloc();
                if (byname) {
                        rtnl_link_set_name(byname, v->name);
                        (void)rtnl_link_delete(c->sk, byname);
                        rtnl_link_put(byname);
                }
                return nl_fail(c, r < 0 ? r : -NLE_OBJ_NOTFOUND, err, err_len,
                               "reading back the new veth");
        }
        return 0;
}

int net_veth_setup(const struct launch_spec *spec, pid_t pid, struct net_veth **ret, char *err,
                   size_t err_len)
{
        _cleanup_(net_veth_freep) struct net_veth *v = NULL;
        struct nl_ctx c = { 0 };
        int r;

        if (spec->net != NET_BRIDGE)
                return fail(err, err_len, -EINVAL, "network mode is %s, not bridge",
                            net_mode_to_string(spec->net) ?: "unknown");
        if (!ifname_valid(spec->bridge.bridge))
                return fail(err, err_len, -EINVAL,
                            "bridge name '%.64s' is not a valid interface name",
                            spec->bridge.bridge ?: "");
        if (!step_id_valid(spec->step_id))
                return fail(err, err_len, -EINVAL, "step id is missing or invalid");
        if (pid <= 0)
                return fail(err, err_len, -EINVAL, "invalid pid %d", (int)pid);
        v = calloc(1, sizeof(*v));
        if (!v)
                return fail(err, err_len, -ENOMEM, "out of memory");
        veth_host_name(spec->step_id, v->name);
        r = veth_setup(&c, spec, pid, v, err, err_len);
        nl_ctx_done(&c);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(v);
        return 0;
}

/* ---- child: ioctls only, no allocation --------------------------------- */

/* what = "<ifname>: <op>", without stdio. */
static int child_fail(char *what, size_t what_len, const char *ifname, const char *op)
{
        int r = negative_errno();
        size_t n = 0;

        if (!what || what_len == 0)
                return r;
        for (const char *parts[] = { ifname, ifname ? ": " : NULL, op }, **p = parts;
             p < parts + 3; p++)
                for (const char *s = *p; s && *s && n + 1 < what_len; s++)
                        what[n++] = *s;
        what[n] = 0;
        return r;
}

static void ifreq_init(struct ifreq *ifr, const char *ifname)
{
        memset(ifr, 0, sizeof(*ifr));
        strncpy(ifr->ifr_name, ifname, IFNAMSIZ - 1);
}

static void sockaddr_in_set(struct sockaddr *sa, struct in_addr a)
{
        struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr = a };

        memcpy(sa, &sin, sizeof(sin));
}

static int link_up(int fd, const char *ifname, char *what, size_t what_len)
{
        struct ifreq ifr;

        ifreq_init(&ifr, ifname);
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                return child_fail(what, what_len, ifname, "SIOCGIFFLAGS");
        if (ifr.ifr_flags & IFF_UP)
                return 0;
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
                return child_fail(what, what_len, ifname, "SIOCSIFFLAGS");
        return 0;
}

static int eth_configure(int fd, const struct net_child_config *cfg, char *what, size_t what_len)
{
        struct in_addr mask = { .s_addr = htonl(prefix_mask(cfg->prefix_len)) };
        struct ifreq ifr;

        ifreq_init(&ifr, NET_PEER_NAME);
        sockaddr_in_set(&ifr.ifr_addr, cfg->address);
        if (ioctl(fd, SIOCSIFADDR, &ifr) < 0)
                return child_fail(what, what_len, NET_PEER_NAME, "SIOCSIFADDR");
        ifreq_init(&ifr, NET_PEER_NAME);
        sockaddr_in_set(&ifr.ifr_netmask, mask);
        if (ioctl(fd, SIOCSIFNETMASK, &ifr) < 0)
                return child_fail(what, what_len, NET_PEER_NAME, "SIOCSIFNETMASK");
        return link_up(fd, NET_PEER_NAME, what, what_len);
}

static int default_route(int fd, struct in_addr gateway, char *what, size_t what_len)
{
        char dev[] = NET_PEER_NAME;
        struct rtentry rt = { .rt_flags = RTF_UP | RTF_GATEWAY, .rt_dev = dev };
        struct in_addr any = { .s_addr = INADDR_ANY };

        sockaddr_in_set(&rt.rt_dst, any);
        sockaddr_in_set(&rt.rt_genmask, any);
        sockaddr_in_set(&rt.rt_gateway, gateway);
        if (ioctl(fd, SIOCADDRT, &rt) < 0)
                return child_fail(what, what_len, NET_PEER_NAME, "SIOCADDRT default");
        return 0;
}

int net_apply(const struct net_child_config *cfg, char *what, size_t what_len)
{
        _cleanup_close_ int fd = -1;
        int r;

        if (cfg->mode == NET_HOST)
                return 0;
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return child_fail(what, what_len, NULL, "socket(AF_INET)");
        r = link_up(fd, "lo", what, what_len);
        if (r < 0 || cfg->mode != NET_BRIDGE)
                return r;
        r = eth_configure(fd, cfg, what, what_len);
        if (r < 0 || cfg->gateway.s_addr == INADDR_ANY)
                return r;
        return default_route(fd, cfg->gateway, what, what_len);
}
