"""Measure awsrun against a raw-botocore baseline and bare Python, in one interleaved run.

Starts moto's STS on 127.0.0.1, then runs each case ROUNDS times, the cases interleaved so
that drift in the machine's load hits them all alike, in a new order each round (shuffled
from a fixed seed): in one fixed order a case pays for what the case before it left behind
(a fan-out's children and threads, moto's work), and `--help`, which does nothing the
parser floor does not, measured 1.06 x the floor where it measures 1.00 shuffled. First
says which awsrun it measures (the installed `awsrun` command as a user runs it: its path,
its launcher, how it was installed, the Python, pip and library versions; see launcher.py).
Prints the median wall
time, the peak memory (max RSS) of each case, their ratios, and PASS or FAIL per budget,
each judged on the rounds' own ratios (see paired()):

    cache hit    <= 1.3  x the parser floor      --help       <= 1.1 x the parser floor
    local error  <= 1.15 x the parser floor      cold path    <= 1.0 x the raw-botocore baseline
    cache hit peak memory (max RSS) <= 20 MiB
    --each-role: 20 roles <= 2 x one cold run; a 100 ms STS adds <= 10 x 100 ms at -P10
    keyring cold path <= 1.2 x the baseline (where a Secret Service can run)

Where
gnome-keyring and dbus are installed, it also measures `awsrun-keys get` and awsrun with a
keyring-held source, on a private Secret Service. The parser floor (parser_floor.py:
docopt-ng parsing awsrun's usage, nothing else) shows what the fast paths cannot go below,
and the report says what awsrun adds to it.

    python benchmarks/bench.py [--rounds N] [--only TEXT]...
    python benchmarks/bench.py --fleet-roles N    (the fleet case alone; the issue's scale is 1000)

--only runs just the cases whose names hold TEXT (and the three references: Python, the
baseline, the parser floor).
--each-role cases: 20 roles against one cold run, and 50 roles at --parallel 10 behind a
proxy that delays every STS answer by 100 ms (in this process), against the same direct.

The fleet case (--fleet-roles N): N roles (from an @FILE) at --parallel 50: straight to moto,
through the proxy without delay, and through the delaying proxy, which counts the STS calls in
flight; after a warm-up, 3 interleaved rounds (fewer with --rounds), the fastest of each kept. Budgets: every
role ran (the JSON report), at least 40 calls in flight at once, awsrun's peak memory (GNU
time's max RSS of awsrun, whose children are `true`) at most 100 MiB, and the time the delay
adds (against the proxy without it) at most 1.5 x the ideal: ceil(N / 50) rounds x 100 ms.

Exit status 0 when every budget measured holds, 1 when one fails (--no-fail: always 0).
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

import launcher  # beside this script

HERE = os.path.dirname(os.path.abspath(__file__))
ROLE = "arn:aws:iam::123456789012:role/Bench"


def start_sts() -> Tuple[subprocess.Popen, str]:
    """moto's STS in a process of its own, so it neither shares this one's CPU nor memory."""
    server = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "..", "examples", "local_sts.py")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    url = server.stdout.readline().strip()  # type: ignore[union-attr]
    if not url:
        raise SystemExit("moto's server did not start (pip install -e '.[test]')")
    return server, url


def environment(url: str, home: str) -> Dict[str, str]:
    """Only what the cases need: fake source keys, the local STS, a private HOME."""
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": home,
        "AWS_CONFIG_FILE": os.path.join(home, "config"),
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(home, "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_STS": url,
        "AWS_ENDPOINT_URL_IAM": url,
        "LANG": "C.UTF-8",
        # A checkout run with PYTHONPATH=. measures that checkout, not the installed awsrun.
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}),
    }


def awsrun_command() -> List[str]:
    """The installed console script, as users run it; python -m awsrun if it is not on PATH."""
    script = launcher.awsrun_script()
    return [script] if script else [sys.executable, "-m", "awsrun"]


STS_DELAY = 0.1
SLOW_STS = "awsrun --each-role x50 -P10 +100ms"
# Cases that talk to the delaying proxy instead of moto directly.
SLOW_CASES = (SLOW_STS,)


def each_role(count: int) -> List[str]:
    return [arg for n in range(1, count + 1) for arg in ("--each-role", f"arn:aws:iam::{n:012d}:role/Bench")]


class InFlight:
    """How many requests the proxy holds now, and the most it held at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.most = 0

    def enter(self) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def leave(self) -> None:
        with self.lock:
            self.now -= 1


def start_slow_proxy(target: str, in_flight: Optional[InFlight] = None,
                     delay: float = STS_DELAY) -> Tuple[ThreadingHTTPServer, str]:
    """A proxy in front of moto that holds every answer STS_DELAY seconds, like a far-away STS."""
    host, port = target.split("//", 1)[1].split(":")
    counter = in_flight or InFlight()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            counter.enter()
            try:
                self._forward()
            finally:
                counter.leave()

        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            connection = http.client.HTTPConnection(host, int(port), timeout=30)
            headers = {name: value for name, value in self.headers.items() if name.lower() != "host"}
            connection.request("POST", self.path, body=body, headers=headers)
            answer = connection.getresponse()
            payload = answer.read()
            connection.close()
            time.sleep(delay)
            self.send_response(answer.status)
            for name, value in answer.getheaders():
                if name.lower() not in ("content-length", "connection", "transfer-encoding", "server", "date"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.request_queue_size = 128  # --parallel 50 connects at once
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def start_secret_service(home: str) -> Tuple[List[subprocess.Popen], Dict[str, str]]:
    """gnome-keyring's Secret Service on a private D-Bus session, for the keyring cases; none without them."""
    if not (shutil.which("dbus-daemon") and shutil.which("gnome-keyring-daemon")):
        return [], {}
    runtime = os.path.join(home, "run")
    os.mkdir(runtime, 0o700)
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": home, "XDG_RUNTIME_DIR": runtime}
    bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    env["DBUS_SESSION_BUS_ADDRESS"] = bus.stdout.readline().strip()  # type: ignore[union-attr]
    daemon = subprocess.Popen(["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
                              env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    daemon.stdin.write(b"bench")  # type: ignore[union-attr]  # the login keyring's password
    daemon.stdin.close()  # type: ignore[union-attr]
    return [daemon, bus], {key: env[key] for key in ("DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR")}


def keys_command() -> List[str]:
    script = launcher.awsrun_script("awsrun-keys")
    return [script] if script else [sys.executable, "-m", "awsrun.keys"]


def store_bench_key(env: Dict[str, str]) -> bool:
    """The bench's fake key in the keyring as 'bench', [profile bench] pointing at it; False if that fails."""
    for _ in range(20):  # the daemon takes a moment to own its bus name
        done = subprocess.run([*keys_command(), "add", "bench", "--stdin"], env=env, capture_output=True, text=True,
                              input=f"{env['AWS_ACCESS_KEY_ID']}\n{env['AWS_SECRET_ACCESS_KEY']}\n")
        if done.returncode == 0:
            return True
        time.sleep(0.2)
    print(f"no keyring cases: {done.stderr.strip()}", file=sys.stderr)
    return False


def cases(keyring: bool = False) -> Dict[str, List[str]]:
    awsrun = awsrun_command()
    found = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "baseline: raw botocore": [sys.executable, os.path.join(HERE, "baseline.py"), ROLE, "true"],
        PARSER_FLOOR: [sys.executable, os.path.join(HERE, "parser_floor.py"), "-q", "-r", ROLE, "--", "true"],
        "awsrun --no-cache -- true": [*awsrun, "-q", "--no-cache", "-r", ROLE, "--", "true"],
        "awsrun -- true (cache hit)": [*awsrun, "-q", "-r", ROLE, "--", "true"],
        "awsrun --help": [*awsrun, "--help"],
        "awsrun bad role (local error)": [*awsrun, "-r", "arn:aws:iam::123:role/typo", "--", "true"],
        "awsrun --each-role x20 -- true": [*awsrun, "-q", "--no-cache", *each_role(20), "--", "true"],
        "awsrun --each-role x50 -P10": [*awsrun, "-q", "--no-cache", "--parallel", "10", *each_role(50), "--", "true"],
        SLOW_STS: [*awsrun, "-q", "--no-cache", "--parallel", "10", *each_role(50), "--", "true"],
    }
    if keyring:
        found["awsrun-keys get (Secret Service)"] = [*keys_command(), "get", "bench"]
        found["awsrun --no-cache, keyring source"] = [*awsrun, "-q", "--no-cache", "-p", "bench", "-r", ROLE, "--", "true"]
    aws = shutil.which("aws", path=os.path.dirname(sys.executable))  # the venv's, never the machine's
    if aws:
        found["aws sts assume-role"] = [aws, "sts", "assume-role", "--role-arn", ROLE, "--role-session-name", "b"]
    return found


GNU_TIME = shutil.which("time", path="/usr/bin:/bin")


def run_once(command: List[str], env: Dict[str, str], scratch: str) -> Tuple[float, int]:
    """Wall seconds and peak RSS in KiB of one run.

    The RSS comes from GNU time, a small C parent: a child forked from this Python process
    would report this process's memory as its own peak. Without GNU time, no RSS (0).
    """
    measured = [GNU_TIME, "-f", "%M", "-o", scratch, *command] if GNU_TIME else command
    start = time.perf_counter()
    subprocess.run(measured, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    if not GNU_TIME:
        return elapsed, 0
    with open(scratch) as stream:
        return elapsed, int(stream.read().split()[-1])


ORDER_SEED = 18  # the rounds' orders are the same in every run of this script
# docopt-ng (awsrun's parser, fixed by design) importing and parsing awsrun's usage, and nothing else.
PARSER_FLOOR = "docopt-ng alone (awsrun's usage)"
REFERENCES = ("python -c pass", "baseline: raw botocore", PARSER_FLOOR)
# The cases that cannot cost less than PARSER_FLOOR: the report says what each adds to it.
FAST_CASES = ("awsrun -- true (cache hit)", "awsrun --help", "awsrun bad role (local error)")


class Case(NamedTuple):
    """One case's wall times, round by round, and its peak memory over the rounds."""

    times: List[float]
    peak_mib: float

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def paired(case: Case, reference: Case) -> float:
    """The median over rounds of ``case``'s time / ``reference``'s time in the same round.

    Both ran in that round, moments apart: a change in the machine's speed that outlasts a
    round (another VM's load, memory scanning) moves both and cancels in their ratio, where
    a ratio of the two medians would keep it.
    """
    return statistics.median(mine / theirs for mine, theirs in zip(case.times, reference.times))


def measure(rounds: int, only: Optional[List[str]] = None) -> Dict[str, Case]:
    server, url = start_sts()
    proxy, slow_url = start_slow_proxy(url)
    home = tempfile.mkdtemp(prefix="awsrun-bench-")
    env = environment(url, home)
    slow_env = {**env, "AWS_ENDPOINT_URL_STS": slow_url}
    daemons, keyring_env = start_secret_service(home)
    env.update(keyring_env)
    slow_env.update(keyring_env)
    table = {name: command for name, command in cases(keyring=bool(daemons) and store_bench_key(env)).items()
             if not only or name in REFERENCES or any(text in name for text in only)}
    try:
        subprocess.run(cases()["awsrun -- true (cache hit)"], env=env, check=True)  # warm the cache
        times: Dict[str, List[float]] = {name: [] for name in table}
        memory: Dict[str, List[int]] = {name: [] for name in table}
        scratch = os.path.join(home, "rss")
        order = list(table.items())
        shuffler = random.Random(ORDER_SEED)
        for _ in range(rounds):
            shuffler.shuffle(order)  # no case always follows the same one
            for name, command in order:
                elapsed, rss = run_once(command, slow_env if name in SLOW_CASES else env, scratch)
                times[name].append(elapsed)
                memory[name].append(rss)
    finally:
        proxy.shutdown()
        for process in [server, *daemons]:
            process.terminate()
            process.wait()
        shutil.rmtree(home, ignore_errors=True)
    return {name: Case(times[name], max(memory[name]) / 1024) for name in table}


def report(results: Dict[str, Case], rounds: int) -> bool:
    python = results["python -c pass"].median
    baseline = results["baseline: raw botocore"].median
    floor = results[PARSER_FLOOR].median
    print(f"{rounds} interleaved rounds, each in its own order (seed {ORDER_SEED}); median wall time;"
          " peak RSS (max over rounds)")
    print(f"{'case':34} {'median ms':>10} {'x python':>9} {'x floor':>8} {'x baseline':>11} {'peak MiB':>9}")
    for name, case in results.items():
        print(f"{name:34} {case.median * 1000:10.1f} {case.median / python:9.2f} {case.median / floor:8.2f}"
              f" {case.median / baseline:11.2f} {case.peak_mib:9.1f}")

    cold, baseline_case = "awsrun --no-cache -- true", "baseline: raw botocore"
    # (label, cases, measure, limit); no measure: the first case's time over the second's, round
    # by round (see paired), with the ratio of their medians printed beside it.
    budgets: List[Tuple[str, Tuple[str, ...], Optional[Callable[[List[Case]], float]], float]] = [
        ("cache hit <= 1.3 x parser floor", ("awsrun -- true (cache hit)", PARSER_FLOOR), None, 1.3),
        ("--help <= 1.1 x parser floor", ("awsrun --help", PARSER_FLOOR), None, 1.1),
        ("local error <= 1.15 x parser floor", ("awsrun bad role (local error)", PARSER_FLOOR), None, 1.15),
        ("cold path <= 1.0 x baseline", (cold, baseline_case), None, 1.0),
        ("cache hit peak memory <= 20 MiB", ("awsrun -- true (cache hit)",), lambda t: t[0].peak_mib, 20.0),
        # A shell loop of 20 awsrun calls costs 20 x one cold run.
        ("20 roles <= 2 x one cold run", ("awsrun --each-role x20 -- true", cold), None, 2.0),
        # 50 roles, 10 at a time: ideally 5 rounds of STS_DELAY, not 50.
        ("100 ms STS adds <= 10 x 100 ms", (SLOW_STS, "awsrun --each-role x50 -P10"),
         lambda t: statistics.median(a - b for a, b in zip(t[0].times, t[1].times)) / STS_DELAY, 10.0),
        ("keyring cold path <= 1.2 x baseline", ("awsrun --no-cache, keyring source", baseline_case), None, 1.2),
    ]
    print(f"\nawsrun's own work beyond its parser ({PARSER_FLOOR}: {floor / python:.2f} x python):")
    for name in FAST_CASES:
        if name in results:
            print(f"  {name:32} {(results[name].median - floor) * 1000:+6.1f} ms")
    print("\nEach budget is judged on the rounds' own ratios (the median over rounds of the case's time")
    print("over its reference's in the same round); the ratio of the two medians is shown beside it.")
    ok = True
    for label, names, measure_of, limit in budgets:
        if not all(name in results for name in names):
            continue
        cases = [results[name] for name in names]
        value = measure_of(cases) if measure_of else paired(cases[0], cases[1])
        beside = "" if measure_of else f"   (ratio of medians {cases[0].median / cases[1].median:.2f})"
        ok = _verdict(label, value, limit, beside) and ok
    return ok


def _verdict(label: str, value: float, limit: float, beside: str = "") -> bool:
    print(f"{'PASS' if value <= limit else 'FAIL'} {label:36} {value:.2f}{beside}")
    return value <= limit


FLEET_PARALLEL = 50


def fleet(count: int, rounds: int = 3) -> bool:
    """The fleet case: ``count`` roles at --parallel 50, straight to moto and behind the delaying proxy,
    after one warm-up run, ``rounds`` times each, interleaved; the fastest of each is kept."""
    import json
    import math

    server, url = start_sts()
    in_flight = InFlight()
    proxy, slow_url = start_slow_proxy(url, in_flight)
    # The same proxy without the delay: what the delay adds is measured against it, not the proxy's own cost.
    fast_proxy, proxy_url = start_slow_proxy(url, delay=0.0)
    home = tempfile.mkdtemp(prefix="awsrun-fleet-")
    try:
        roles = os.path.join(home, "roles")
        with open(roles, "w") as stream:
            stream.writelines(f"arn:aws:iam::{n:012d}:role/Fleet\n" for n in range(1, count + 1))
        env = environment(url, home)
        runs: Dict[str, Tuple[float, float, int]] = {}
        plan = [("warm-up", url)] + [("direct", url), ("proxy", proxy_url), ("+100ms", slow_url)] * rounds
        for name, target in plan:
            report_path = os.path.join(home, f"{name}.json")
            command = [*awsrun_command(), "-q", "--no-cache", "--parallel", str(FLEET_PARALLEL),
                       "--each-role", f"@{roles}", "--report", report_path, "--", "true"]
            elapsed, rss = run_once(command, {**env, "AWS_ENDPOINT_URL_STS": target}, os.path.join(home, "rss"))
            with open(report_path) as stream:
                results = json.load(stream)["results"]
            run = (elapsed, rss / 1024, sum(1 for item in results if item["status"] == 0))
            if name != "warm-up":
                best = runs.get(name, run)
                runs[name] = (min(best[0], run[0]), max(best[1], run[1]), min(best[2], run[2]))
    finally:
        proxy.shutdown()
        fast_proxy.shutdown()
        server.terminate()
        server.wait()
        shutil.rmtree(home, ignore_errors=True)
    waves = math.ceil(count / FLEET_PARALLEL)
    ideal = waves * STS_DELAY
    added = runs["+100ms"][0] - runs["proxy"][0]
    for name, (elapsed, mib, ok) in runs.items():
        print(f"fleet {name:7} {count} roles -P{FLEET_PARALLEL}: {elapsed:6.2f} s, awsrun peak {mib:6.1f} MiB, {ok} ran ok")
    budgets = [
        (f"all {count} roles ran", min(run[2] for run in runs.values()), count, ">="),
        (f"STS calls in flight >= {min(40, count)}", in_flight.most, min(40, count), ">="),
        ("awsrun peak memory <= 100 MiB", max(run[1] for run in runs.values()), 100.0, "<="),
        (f"100 ms STS adds <= 1.5 x {waves} x 100 ms", added / ideal, 1.5, "<="),
    ]
    ok = True
    for label, value, limit, how in budgets:
        holds = value >= limit if how == ">=" else value <= limit
        ok = ok and holds
        print(f"{'PASS' if holds else 'FAIL'} {label:40} {value:.2f}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--only", action="append", help="run only the cases whose names hold this text")
    parser.add_argument("--no-fail", action="store_true", help="exit 0 even when a budget fails")
    parser.add_argument("--fleet-roles", type=int, help="run only the fleet case, with this many roles (1000: the issue's)")
    options = parser.parse_args()
    print("\n".join(launcher.describe()))
    script = launcher.awsrun_script()
    if script and os.path.realpath(launcher.interpreter(script)) != os.path.realpath(sys.executable):
        print(f"  note:         the references run under {sys.executable}, awsrun under another Python")
    print()
    # Measure awsrun as an installed package runs: from bytecode. An editable checkout under
    # PYTHONDONTWRITEBYTECODE would otherwise compile every module on every run.
    import compileall

    compileall.compile_dir(os.path.join(HERE, "..", "awsrun"), quiet=1)
    if options.fleet_roles:
        holds = fleet(options.fleet_roles, min(options.rounds, 3))
    else:
        holds = report(measure(options.rounds, options.only), options.rounds)
    return 0 if holds or options.no_fail else 1


if __name__ == "__main__":
    sys.exit(main())
