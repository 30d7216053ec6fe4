"""Soak: thousands of mixed requests, a tenth of them hostile, through one jailed RenderPool.

    PYTHONPATH=$PWD python benchmarks/soak.py [--requests 2000] [--hostile 0.1] [--workers 2]

Normal requests cycle through the labeled cases of every domain (charts, web pages, HTML slides,
python-pptx decks); hostile ones are what a policy searching for reward would try: loops, memory
and fork bombs, a guard switched off before an escape, a daemon in a new session, junk written
into every descriptor in reach, the worker killed from its child, a scratch filler, pages that
spin, open popups, phone home or are slow to parse. The pool runs with its default settings (the
per-request limits shortened so hostile loops end sooner). It reports: results lost, normal
requests that failed, processes left after close, and worker-plus-browser memory (RSS of every
worker's process tree) after the warm-up pass against the end.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import pathlib
import random
import socket
import time
import uuid

from render_service import RenderConfig, RenderPool, RenderRequest, SandboxLimits
from sdpo_jax.loop.rundir import machine

CASES = pathlib.Path(__file__).resolve().parents[1] / "tests" / "render_service" / "cases"
SHARE = {"chart": 0.6, "web": 0.2, "slide_html": 0.12, "slide_pptx": 0.08}
GUARD_OFF = (
    "import render_service.sandbox as guard\n"
    "guard._REFUSED_EVENTS, guard._PATH_EVENTS = frozenset(), {}\n"
    "guard._foreign_proc = lambda name: False\n"
)


def hostile_programs(port: int, mark: str) -> dict[str, tuple[str, str, dict]]:
    """name -> (domain, code, options)."""
    js = {"javascript": True}
    return {
        "cpu loop": ("chart", "while True:\n    pass", {}),
        "memory bomb": ("chart", "b = []\nwhile True:\n    b.append(bytearray(10**7))", {}),
        "fork bomb": ("chart", GUARD_OFF + "import os\nwhile True:\n    os.fork()", {}),
        "daemon": (
            "chart",
            GUARD_OFF + "import subprocess, sys\ndel sys.modules['_posixsubprocess']\n"
            "import _posixsubprocess\nsubprocess._fork_exec = _posixsubprocess.fork_exec\n"
            f"subprocess.Popen(['sleep', '600', '{mark}'], start_new_session=True)",
            {},
        ),
        "connect home": (
            "chart",
            GUARD_OFF + f"import socket\nsocket.create_connection(('127.0.0.1', {port}), 1)",
            {},
        ),
        "write outside": (
            "chart",
            GUARD_OFF + "import os\nd = os.open('/dev/shm', os.O_RDONLY)\n"
            f"os.write(os.open('{mark}', os.O_WRONLY | os.O_CREAT, dir_fd=d), b'x')",
            {},
        ),
        "fill scratch": (
            "chart",
            "for i in range(64):\n    open(f'f{i}', 'wb').write(b'x' * (60 << 20))",
            {},
        ),
        "junk into descriptors": (
            "chart",
            GUARD_OFF + "import os\nfor p in os.listdir('/proc'):\n"
            "    for fd in range(64):\n        try:\n"
            "            os.write(os.open(f'/proc/{p}/fd/{fd}', os.O_WRONLY), b'junk')\n"
            "        except (OSError, ValueError):\n            pass",
            {},
        ),
        "kill the worker": ("chart", GUARD_OFF + "import os\nos.kill(os.getppid(), 9)", {}),
        "print flood": ("chart", "while True:\n    print('x' * 100000)", {}),
        "segfault": ("chart", "import faulthandler\nfaulthandler._sigsegv()", {}),
        "pptx loop": ("slide_pptx", "while True:\n    pass", {}),
        "spinning page": ("web", "<p>x</p><script>while (true) {}</script>", js),
        "popups": (
            "web",
            "<p>x</p><script>for (let i = 0; i < 40; i++) window.open('about:blank');"
            "setInterval(() => Math.random(), 0);</script>",
            js,
        ),
        "page phones home": (
            "web",
            f"<p>x</p><script>new WebSocket('ws://127.0.0.1:{port}/');"
            f"navigator.sendBeacon('http://127.0.0.1:{port}/b', 'x');"
            f"location = 'http://127.0.0.1:{port}/l';</script>",
            js,
        ),
        "slow to parse": ("web", "<a " * 20000, {}),
        "huge slide": ("slide_html", "<div>" * 30000, {}),
    }


def normal_programs() -> list[tuple[str, str]]:
    """(domain, code) of every labeled case."""
    return [
        (domain, json.loads(path.read_text())["code"])
        for domain in SHARE
        for path in sorted((CASES / domain).glob("*.json"))
    ]


def workload(count: int, hostile_share: float, port: int, mark: str, normal) -> list[tuple]:
    """(request, hostile name or None), shuffled with a fixed seed."""
    rng = random.Random(0)
    by_domain = collections.defaultdict(list)
    for domain, code in normal:
        by_domain[domain].append(code)
    hostile = list(hostile_programs(port, mark).items())
    items = []
    for i in range(count):
        if i < int(count * hostile_share):
            name, (domain, code, options) = hostile[i % len(hostile)]
            items.append((RenderRequest(f"h{i}", domain, code, options=options), name))
        else:
            domain = rng.choices(list(SHARE), weights=list(SHARE.values()))[0]
            code = rng.choice(by_domain[domain])
            items.append((RenderRequest(f"n{i}", domain, code), None))
    rng.shuffle(items)
    return items


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def rss_mb(pids) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as status:
                total += next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            continue
    return total / 1024


def pool_memory(pool: RenderPool) -> tuple[float, set]:
    """(RSS of every worker's process tree in MB, the (pid, start time) of those processes)."""
    pids = [p for worker in pool.worker_pids() for p in tree(worker)]
    return rss_mb(pids), {(p, start_time(p)) for p in pids}


def start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            text = cmdline.read().replace(b"\0", b" ").decode(errors="replace")[:120]
        with open(f"/proc/{pid}/stat") as stat:
            return text + " | " + stat.read()[:80]
    except OSError:
        return "?"


def marked(mark: str) -> int:
    count = 0
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                count += mark.encode() in cmdline.read()
        except OSError:
            continue
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--hostile", type=float, default=0.1)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    mark = f"soak-{uuid.uuid4().hex}"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    limits = SandboxLimits(cpu_seconds=3, wall_seconds=6)
    config = dataclasses.replace(RenderConfig(workers=args.workers), limits=limits)
    seen: set = set()
    print(f"# render pool soak — {machine()}")
    with RenderPool(config, warm_domains=tuple(SHARE)) as pool:
        cases = normal_programs()
        warm = pool.render([RenderRequest(f"w{i}", d, c) for i, (d, c) in enumerate(cases)])
        normal = [case for case, result in zip(cases, warm) if result.ok]  # renderable ones
        broken = len(cases) - len(normal)
        items = workload(args.requests, args.hostile, port, mark, normal)
        start_mb, pids = pool_memory(pool)
        seen |= pids
        start = time.perf_counter()
        futures = [(pool.submit(request), request, name) for request, name in items]
        results, lost = [], 0
        for index, (future, request, name) in enumerate(futures):
            try:
                results.append((future.result(timeout=600), request, name))
            except Exception:
                lost += 1
            if index % 100 == 0:
                seen |= pool_memory(pool)[1]
        elapsed = time.perf_counter() - start
        end_mb, pids = pool_memory(pool)
        seen |= pids
    time.sleep(1)
    survivors = [p for p, started in seen if started is not None and start_time(p) == started]
    connections = 0
    while True:
        try:
            listener.accept()[0].close()
            connections += 1
        except BlockingIOError:
            break
    normal = [(r, q) for r, q, name in results if name is None]
    failed = [(q.domain, r.error.splitlines()[0][:90]) for r, q in normal if not r.ok]
    outcomes = collections.defaultdict(collections.Counter)
    for result, _, name in results:
        if name is not None:
            outcomes[name][(result.error or "ok").split(":")[0].split(" (line")[0]] += 1
    rows = [
        ("requests (hostile)", f"{len(items)} ({sum(n is not None for _, n in items)})"),
        ("labeled cases that do not render (left out)", str(broken)),
        ("wall time", f"{elapsed:.0f} s ({len(items) / elapsed:.1f} requests/s)"),
        ("results lost", str(lost)),
        ("normal requests failed", f"{len(failed)} of {len(normal)}"),
        ("processes left after close", str(len(survivors) + marked(mark))),
        ("connections to the host listener", str(connections)),
        (
            "worker+browser RSS after warm-up -> end",
            f"{start_mb:.0f} -> {end_mb:.0f} MB ({100 * (end_mb / start_mb - 1):+.0f}%)",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print("\nhostile outcomes (first word of the error):")
    for name, counter in sorted(outcomes.items()):
        print(f"  {name:<24} {dict(counter)}")
    for pid in survivors:
        print(f"  left after close: {pid} {command(pid)}")
    for domain, error in failed[:10]:
        print(f"  normal failure ({domain}): {error}")


if __name__ == "__main__":
    main()
