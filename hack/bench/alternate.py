#!/usr/bin/env python3
"""Alternated start-path runs for comparing builds on a noisy machine (docs/performance.md).

  alternate.py runs N BUNDLE NAME=BIN...    `run` of BUNDLE and `sandbox -- /bin/true` for each
                                            build, crun's `run` and bwrap, once each per round
                                            in a random order
  alternate.py phases N BUNDLE NAME=BIN...  create, start, delete of BUNDLE on their own, each
                                            build and crun, once each per round

Prints a markdown table: wall median and CPU mean (user+sys of the whole process tree, wait4).
Root; state under /tmp/alternate-root (and /tmp/alternate-crun for crun). Timing only: no
assertions (this is no test).
"""
import os, random, shutil, statistics, subprocess, sys, time

ROOT, CRUN_ROOT = '/tmp/alternate-root', '/tmp/alternate-crun'


def one(argv):
    t = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        fd = os.open('/dev/null', os.O_RDWR)
        for i in (0, 1, 2):
            os.dup2(fd, i)
        os.execv(argv[0], argv)
    _, st, ru = os.wait4(pid, 0)
    if st != 0:
        print('failed (%d): %s' % (st, ' '.join(argv)), file=sys.stderr)
    return (time.perf_counter() - t) * 1000, (ru.ru_utime + ru.ru_stime) * 1000


def runs(n, bundle, builds):
    cmds = {}
    for name, b in builds:
        cmds[name + ' run'] = lambda i, b=b: [b, '--root', ROOT, 'run', '-b', bundle, 'alt%d' % i]
        cmds[name + ' sandbox'] = lambda i, b=b: [b, 'sandbox', '--', '/bin/true']
    if shutil.which('crun'):
        cmds['crun run'] = lambda i: [shutil.which('crun'), '--root', CRUN_ROOT, 'run', '-b', bundle, 'alt%d' % i]
    if shutil.which('bwrap'):
        cmds['bwrap'] = lambda i: [shutil.which('bwrap'), '--ro-bind', '/', '/', 'true']
    res = {k: ([], []) for k in cmds}
    seq = os.getpid() * 100000
    for _ in range(n):
        for k in random.sample(list(cmds), len(cmds)):
            seq += 1
            w, c = one(cmds[k](seq))
            res[k][0].append(w)
            res[k][1].append(c)
    print('| command | median wall ms | CPU ms (mean) |\n|---|---:|---:|')
    for k, (w, c) in res.items():
        print('| %s | %.2f | %.2f |' % (k, statistics.median(w), statistics.mean(c)))


def phases(n, bundle, builds):
    rts = [(name, b, ROOT) for name, b in builds]
    if shutil.which('crun'):
        rts.append(('crun', shutil.which('crun'), CRUN_ROOT))
    verbs = ('create', 'start', 'delete')
    res = {(r[0], v): ([], []) for r in rts for v in verbs}
    seq = os.getpid() * 100000
    for _ in range(n):
        for name, b, root in random.sample(rts, len(rts)):
            seq += 1
            cid = 'alt%d' % seq
            for v, argv in (('create', [b, '--root', root, 'create', '-b', bundle, cid]),
                            ('start', [b, '--root', root, 'start', cid])):
                w, c = one(argv)
                res[(name, v)][0].append(w)
                res[(name, v)][1].append(c)
            for _ in range(400):  # until the program has exited (delete wants it stopped)
                out = subprocess.run([b, '--root', root, 'state', cid], capture_output=True, text=True).stdout
                if '"stopped"' in out:
                    break
                time.sleep(0.005)
            w, c = one([b, '--root', root, 'delete', cid])
            res[(name, 'delete')][0].append(w)
            res[(name, 'delete')][1].append(c)
    print('| verb (wall / CPU ms) | ' + ' | '.join(r[0] for r in rts) + ' |')
    print('|---|' + '---:|' * len(rts))
    for v in verbs:
        print('| %s | %s |' % (v, ' | '.join('%.2f / %.2f' % (statistics.median(res[(r[0], v)][0]),
                                                               statistics.mean(res[(r[0], v)][1])) for r in rts)))


def main():
    if len(sys.argv) < 5 or sys.argv[1] not in ('runs', 'phases'):
        sys.exit(__doc__)
    n, bundle = int(sys.argv[2]), sys.argv[3]
    builds = [a.split('=', 1) for a in sys.argv[4:]]
    (runs if sys.argv[1] == 'runs' else phases)(n, bundle, builds)
    print('load average: ' + open('/proc/loadavg').read().strip())


if __name__ == '__main__':
    main()
