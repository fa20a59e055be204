"""A real local Ray cluster for crates/wikirag/tests/ray.rs and benches/ray-build.sh: a head and two worker nodes, each
`ray start --block` in its own session (so killing one kills that node whole), the driver
(`python -m wikirag_ray build`) run against it, and worker 1 killed while it builds a unit. Prints one JSON line: the driver's exit code, its events, the attempts made."""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ray", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--kill-mid-task", action="store_true")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--then", help="a JSON list: the arguments of a second driver command run "
                   "on the same cluster once the first succeeded (`update NEWER_DUMP …`)")
    p.add_argument("--cpus-per-worker", type=int, default=1)
    p.add_argument("driver_args", nargs=argparse.REMAINDER)
    a = p.parse_args()
    port = free_port()
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_memory_monitor_refresh_ms="0")
    common = ["--block", "--disable-usage-stats", "--object-store-memory", str(80 << 20)]
    nodes = []

    manager_ports = []

    def start(extra):
        # Nodes sharing one host need ports of their own (the agents' defaults are fixed).
        for flag in ["--dashboard-agent-listen-port", "--dashboard-agent-grpc-port",
                     "--metrics-export-port", "--runtime-env-agent-port", "--node-manager-port",
                     "--object-manager-port"]:
            port_ = free_port()
            if flag == "--node-manager-port":
                manager_ports.append(port_)
            extra = [*extra, flag, str(port_)]
        nodes.append(subprocess.Popen([a.ray, "start", *common, *extra], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True))

    result = {"ok": False}
    driver = None
    begun = time.time()
    try:
        import ray

        def state():
            """(CPUs, live nodes, node id of the second worker) as the cluster sees them."""
            ray.init(address=address, logging_level="ERROR", log_to_driver=False)
            try:
                nodes_ = [n for n in ray.nodes() if n["Alive"]]
                victim_ = [n["NodeID"] for n in nodes_
                           if len(manager_ports) > 2 and n["NodeManagerPort"] == manager_ports[2]]
                return ray.cluster_resources().get("CPU", 0), len(nodes_), victim_
            finally:
                ray.shutdown()

        def wait_for(nodes_wanted, seconds):
            deadline = time.time() + seconds
            while time.time() < deadline:
                try:
                    cpus, alive, victim_ = state()
                    print(f"cluster: {cpus} CPUs, {alive} nodes", file=sys.stderr)
                    if alive >= nodes_wanted:
                        return victim_
                except Exception as e:  # not up yet
                    print(f"cluster: not up yet: {e}", file=sys.stderr)
                time.sleep(1)
            return None

        start(["--head", "--port", str(port), "--num-cpus", "0", "--include-dashboard", "false",
               "--node-ip-address", "127.0.0.1"])
        address = f"127.0.0.1:{port}"
        if wait_for(1, 60) is None:
            raise SystemExit("the head did not come up in 60 s")
        # One worker at a time; a node that does not join (a port taken meanwhile) is started
        # again on other ports.
        victim = None
        for i in range(a.workers):
            for attempt in range(3):
                start(["--address", address, "--num-cpus", str(a.cpus_per_worker),
                       "--node-ip-address", "127.0.0.1",
                       "--min-worker-port", str(20000 + 2000 * i),
                       "--max-worker-port", str(20999 + 2000 * i)])
                joined = wait_for(2 + i, 30)
                cluster_up = time.time()
                if joined is not None:
                    victim = joined
                    break
                os.killpg(nodes[-1].pid, signal.SIGKILL)
                nodes.pop().wait()
                manager_ports.pop()
            else:
                raise SystemExit(f"worker {i + 1} did not join in three tries")
        started = time.time()
        driver = subprocess.Popen(
            [sys.executable, "-m", "wikirag_ray", "build", "--address", address, "--events",
             "--out", a.out, *a.driver_args],
            stdout=subprocess.PIPE, text=True, env=env)
        events = []
        killed = False
        attempts_dir = os.path.join(a.out, "attempts")

        def building(unit):
            """The `wikirag` processes building `unit`'s shard right now."""
            found = []
            needle = f"shards/{unit}".encode()
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        cmd = f.read()
                except OSError:
                    continue
                if needle in cmd and cmd.split(b"\0")[0].endswith(b"wikirag"):
                    found.append(int(pid))
            return found

        def kill_mid_task():
            # Worker 1 dies while one of its `wikirag index` processes is running.
            nonlocal killed
            while driver.poll() is None and not killed:
                try:
                    names = os.listdir(attempts_dir)
                except FileNotFoundError:
                    names = []
                for name in names:
                    try:
                        node = open(os.path.join(attempts_dir, name)).read().split("\n")[0]
                    except OSError:
                        continue
                    unit = name.rsplit("@", 1)[0]
                    pids = building(unit) if victim and node == victim[0] else []
                    if pids:
                        # Stopped first, so the unit cannot finish between this look and
                        # the node's death (its task is then sure to be retried).
                        for pid in pids:
                            try:
                                os.kill(pid, signal.SIGSTOP)
                            except ProcessLookupError:
                                pass
                        # A wikirag still listed in /proc may have published its shard and be
                        # exiting (CI saw the unit counted built with one attempt): only a
                        # unit not yet published is sure to run again.
                        if os.path.exists(os.path.join(a.out, "shards", unit, "manifest.json")):
                            for pid in pids:
                                try:
                                    os.kill(pid, signal.SIGCONT)
                                except ProcessLookupError:
                                    pass
                            continue
                        os.killpg(nodes[2].pid, signal.SIGKILL)
                        killed = True
                        result["killed_at"] = time.time() - started
                        result["killed_unit"] = unit
                        return
                time.sleep(0.02)

        import threading

        watcher = threading.Thread(target=kill_mid_task, daemon=True)
        if a.kill_mid_task:
            watcher.start()
        for line in driver.stdout:
            if not line.startswith("{"):
                print(line, end="", file=sys.stderr)  # Ray's own messages
                continue
            events.append(json.loads(line))
        rc = driver.wait(timeout=900)
        if rc == 0 and a.then:
            then = json.loads(a.then)
            second = subprocess.run(
                [sys.executable, "-m", "wikirag_ray", *then, "--address", address, "--events",
                 "--out", a.out], stdout=subprocess.PIPE, text=True, env=env, timeout=900)
            result["then_rc"] = second.returncode
            result["then_events"] = [json.loads(l) for l in second.stdout.splitlines()
                                     if l.startswith("{")]
        attempts = sorted(os.listdir(attempts_dir)) if os.path.isdir(attempts_dir) else []
        result = {**result, "ok": rc == 0, "cluster_start_seconds": cluster_up - begun, "rc": rc, "events": events, "attempts": attempts,
                  "killed": killed, "seconds": time.time() - started}
    finally:
        if driver is not None and driver.poll() is None:
            driver.kill()
        for n in nodes:
            try:
                os.killpg(n.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for n in nodes:
            n.wait()
    print(json.dumps(result))


main()
