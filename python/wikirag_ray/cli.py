"""``python -m wikirag_ray``: plan, build on a Ray cluster, merge; and ``repack`` for a dump
that is not multistream."""

import argparse
import json
import os
import sys
import time

from wikirag_ray import units as units_mod


def _log(msg):
    print(f"wikirag-ray: {msg}", file=sys.stderr, flush=True)


def _die_with_parent():
    # Linux: the wikirag child dies with the Ray worker that started it (a node that dies
    # leaves no orphan build writing into the shard).
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class UnitInterrupted(RuntimeError):
    """A unit's `wikirag` was stopped by a signal (its node going down, a preemption): Ray runs
    the task again, and the build resumes what that run had embedded."""


def _updated(shard, unit):
    """Whether ``shard`` holds the update of ``unit`` (its last update read that part)."""
    try:
        with open(os.path.join(shard, "manifest.json")) as f:
            m = json.load(f)
    except OSError:
        return False
    ups = m.get("updates") or []
    if not ups:
        return False
    d = (ups[-1].get("dumps") or [{}])[0]
    return (d.get("file_name") == os.path.basename(unit["update_dump"])
            and d.get("part") == unit["update_part"])


def build_unit(unit, shard, wikirag, model, threads, extra, attempts):
    """One work unit, on whatever node Ray chose: ``wikirag index --part`` into ``shard``, or,
    for a unit planned by ``update``, ``wikirag update --part`` of it."""
    import socket
    import subprocess

    import ray

    node = ray.get_runtime_context().get_node_id()
    if attempts:
        os.makedirs(attempts, exist_ok=True)
        # One file per attempt, `UNIT@PID`: the node and host that ran it inside.
        with open(os.path.join(attempts, f"{unit['id']}@{os.getpid()}"), "w") as f:
            f.write(f"{node}\n{socket.gethostname()}\n")
    started = time.time()
    manifest = os.path.join(shard, "manifest.json")
    updating = "update_part" in unit
    if updating and not _updated(shard, unit):
        cmd = [wikirag, "update", "--index", shard, unit["update_dump"], "-q", "-j", str(threads),
               "--multistream-index", unit["update_index"], "--part", unit["update_part"]]
    elif not updating and not os.path.exists(manifest):
        cmd = [wikirag, "index", unit["dump"], "--out", shard, "-q", "-j", str(threads)]
        if unit["index"]:
            cmd += ["--multistream-index", unit["index"]]
        if unit["part"]:
            cmd += ["--part", unit["part"]]
    else:
        cmd = None
    if cmd:
        if model:
            cmd += ["--model", model]
            if not updating:
                # The task's CPUs and no more (forward passes; RAYON_NUM_THREADS below caps
                # the graph's linking threads).
                cmd += ["--embed-workers", str(threads)]
        cmd += extra
        env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
        r = subprocess.run(cmd, capture_output=True, text=True, env=env,
                           preexec_fn=_die_with_parent)
        # 130: wikirag's exit on SIGINT/SIGTERM; negative: killed by a signal.
        if r.returncode == 130 or r.returncode < 0:
            raise UnitInterrupted(f"unit {unit['id']}: wikirag stopped by a signal "
                                  f"(exit {r.returncode}) on node {node}")
        if r.returncode != 0:
            return {"id": unit["id"], "ok": False, "node": node, "rc": r.returncode,
                    "error": (r.stderr or r.stdout).strip()[-2000:],
                    "seconds": time.time() - started}
    with open(manifest) as f:
        m = json.load(f)
    faults = [d["fatal_error"] for d in m.get("dumps", []) if d.get("fatal_error")]
    return {"id": unit["id"], "ok": True, "node": node, "sentences": m["counts"]["sentences"],
            "articles": m["counts"]["articles"], "faults": faults,
            "seconds": time.time() - started}


def cmd_build(args):
    out = os.path.abspath(args.out)
    shards_dir = os.path.join(out, "shards")
    os.makedirs(shards_dir, exist_ok=True)
    indexes = {}
    if args.multistream_index:
        indexes[os.path.abspath(args.dumps[0])] = os.path.abspath(args.multistream_index)
    units = units_mod.plan(args.dumps, indexes, args.unit_mb << 20, args.units_per_file)
    plan_path = os.path.join(out, "plan.json")
    if os.path.exists(plan_path) and not args.replan:
        with open(plan_path) as f:
            old = json.load(f)
        if [u["id"] for u in old["units"]] != [u["id"] for u in units]:
            _log(f"{plan_path} holds another plan (other dumps or unit sizes): pass --replan to "
                 "start over with this one (finished shards of units it keeps are reused)")
            return 2
    tmp = plan_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"units": units, "model": args.model}, f, indent=1)
    os.replace(tmp, plan_path)

    def shard_of(u):
        return os.path.join(shards_dir, u["id"])

    todo = [u for u in units if not os.path.exists(os.path.join(shard_of(u), "manifest.json"))]
    _log(f"{len(units)} units ({sum(u['bytes'] for u in units) >> 20} MiB), "
         f"{len(units) - len(todo)} already built, {len(todo)} to build")
    return _run(args, units, todo, shard_of, out, "build")


def cmd_update(args):
    out = os.path.abspath(args.out)
    plan_path = os.path.join(out, "plan.json")
    try:
        with open(plan_path) as f:
            plan = json.load(f)
    except OSError:
        _log(f"{plan_path} is missing: update follows a build made by `python -m wikirag_ray build`")
        return 2
    units = units_mod.plan_update(plan["units"], args.dump, args.multistream_index)
    shards_dir = os.path.join(out, "shards")
    missing = [u["id"] for u in units if not os.path.exists(os.path.join(shards_dir, u["id"], "manifest.json"))]
    if missing:
        _log(f"{len(missing)} units were never built ({missing[0]}, …): finish the build first")
        return 2
    with open(os.path.join(out, "update-plan.json"), "w") as f:
        json.dump({"units": units}, f, indent=1)

    def shard_of(u):
        return os.path.join(shards_dir, u["id"])

    for u in units:
        u["bytes"] = u["update_bytes"]
    retired = [u for u in units if u.get("retire")]
    units = [u for u in units if not u.get("retire")]
    todo = [u for u in units if not _updated(shard_of(u), u)]
    _log(f"{len(units)} units of {os.path.basename(args.dump)}, {len(units) - len(todo)} already "
         f"updated, {len(todo)} to update" + (f", {len(retired)} retired (their pages now lie "
                                                f"in the unit before)" if retired else ""))
    if args.model is None:
        args.model = plan.get("model")
    return _run(args, units, todo, shard_of, out, "update", retired)


def _retire(out, units, retired, shard_of):
    """Drops the shards of ``retired`` units and the units from the plan (once every other
    unit is updated: their pages are in the shard before them now)."""
    if not retired:
        return
    import shutil

    plan_path = os.path.join(out, "plan.json")
    with open(plan_path) as f:
        plan = json.load(f)
    gone = {u["id"] for u in retired}
    plan["units"] = [u for u in plan["units"] if u["id"] not in gone]
    tmp = plan_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(plan, f, indent=1)
    os.replace(tmp, plan_path)
    for u in retired:
        shutil.rmtree(shard_of(u), ignore_errors=True)


def _run(args, units, todo, shard_of, out, what, retired=()):
    """Runs ``todo`` (of ``units``) as Ray tasks, then merges every shard."""
    if not todo:
        _retire(out, units, retired, shard_of)
        return _merge(args, units, shard_of, out, 0.0, 0)
    import ray

    package = os.path.dirname(os.path.abspath(__file__))
    ray.init(address=args.address, runtime_env={"py_modules": [package]},
             logging_level="WARNING", log_to_driver=False)
    task = ray.remote(build_unit).options(
        num_cpus=args.num_cpus_per_task, num_gpus=args.num_gpus_per_task,
        max_retries=args.max_retries, retry_exceptions=[UnitInterrupted])
    wikirag = args.wikirag
    model = os.path.abspath(args.model) if args.model else None
    attempts = os.path.join(out, "attempts")
    pending = {task.remote(u, shard_of(u), wikirag, model, args.num_cpus_per_task,
                           args.wikirag_arg, attempts): u for u in todo}
    started = time.time()
    done_bytes = 0
    total_bytes = sum(u["bytes"] for u in todo)
    sentences = 0
    failed = []
    finished = len(units) - len(todo)
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        ref = ready[0]
        unit = pending.pop(ref)
        try:
            r = ray.get(ref)
        except Exception as e:  # the task could not run even after its retries
            r = {"id": unit["id"], "ok": False, "error": f"{type(e).__name__}: {e}"}
        done_bytes += unit["bytes"]
        elapsed = time.time() - started
        if r["ok"]:
            finished += 1
            sentences += r["sentences"]
            for fault in r.get("faults", []):
                _log(f"unit {unit['id']}: {fault} (the pages before it are indexed)")
        else:
            failed.append(r)
            _log(f"unit {unit['id']} FAILED: {r['error']}")
        eta = elapsed / done_bytes * (total_bytes - done_bytes) if done_bytes else 0
        _log(f"{finished}/{len(units)} units, {sentences / max(elapsed, 1e-9):.0f} sentences/s, "
             f"ETA {eta:.0f} s")
        if args.events:
            print(json.dumps({"event": "unit", **r, "done": finished, "units": len(units)}), flush=True)
    build_secs = time.time() - started
    ray.shutdown()
    if failed:
        with open(os.path.join(out, "failed.json"), "w") as f:
            json.dump(failed, f, indent=1)
        _log(f"{len(failed)} units failed (listed in {out}/failed.json); the others are kept: "
             f"fix the input and run the same command again to {what} only those")
        return 1
    _retire(out, units, retired, shard_of)
    return _merge(args, units, shard_of, out, build_secs, len(todo))


def _merge(args, units, shard_of, out, build_secs, built):
    import subprocess

    wikirag = args.wikirag
    merged = os.path.join(out, "index")
    merge_started = time.time()
    r = subprocess.run([wikirag, "merge", *[shard_of(u) for u in units], "--out", merged,
                        "--force", "-q"], capture_output=True, text=True)
    if r.returncode != 0:
        _log(f"merge failed: {r.stderr.strip()}")
        return 1
    _log(r.stdout.strip())
    summary = {"event": "done", "units": len(units), "built": built,
               "build_seconds": build_secs, "merge_seconds": time.time() - merge_started,
               "index": merged}
    if args.events:
        print(json.dumps(summary), flush=True)
    return 0


def cmd_plan(args):
    indexes = {}
    if args.multistream_index:
        indexes[os.path.abspath(args.dumps[0])] = os.path.abspath(args.multistream_index)
    for u in units_mod.plan(args.dumps, indexes, args.unit_mb << 20, args.units_per_file):
        print(json.dumps(u))
    return 0


def cmd_repack(args):
    dest, index, pages = units_mod.repack(args.source, args.dest, args.pages_per_stream)
    _log(f"{pages} pages into {dest} (index {index})")
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m wikirag_ray", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)

    def unit_args(s):
        s.add_argument("dumps", nargs="+", help="dump files (multistream .bz2 are split into units)")
        s.add_argument("--multistream-index", help="the first dump's index (found beside it under "
                       "Wikimedia's name otherwise)")
        s.add_argument("--unit-mb", type=int, default=256,
                       help="compressed MiB per unit (default 256)")
        s.add_argument("--units-per-file", type=int, default=0,
                       help="split each multistream dump into this many units instead")

    def cluster_args(s):
        s.add_argument("--wikirag", default="wikirag", help="the wikirag binary on the nodes")
        s.add_argument("--address", default=None, help="Ray cluster (default: RAY_ADDRESS, or the "
                       "cluster `ray start` began on this machine, or a new local one)")
        s.add_argument("--num-cpus-per-task", type=int, default=1)
        s.add_argument("--num-gpus-per-task", type=float, default=0)
        s.add_argument("--max-retries", type=int, default=3,
                       help="times Ray runs a unit again whose node died or whose wikirag "
                       "was stopped by a signal")
        s.add_argument("--wikirag-arg", action="append", default=[],
                       help="an extra argument for each `wikirag index` (repeatable)")
        s.add_argument("--events", action="store_true", help="a JSON line on stdout per finished unit")

    b = sub.add_parser("build", help="build the units on a Ray cluster, then merge them")
    unit_args(b)
    b.add_argument("--out", required=True, help="a directory every node can read and write: "
                   "shards/ and the merged index/ go there")
    b.add_argument("--model", help="embedding model directory (the same path on every node)")
    cluster_args(b)
    b.add_argument("--replan", action="store_true", help="accept a new plan in an --out "
                   "that holds another")
    b.set_defaults(run=cmd_build)

    u = sub.add_parser("update", help="update every shard of a build with the matching part of "
                       "a newer multistream dump, on the cluster, then merge them again")
    u.add_argument("dump", help="the newer multistream dump of the same wiki")
    u.add_argument("--multistream-index", help="its index (found beside it otherwise)")
    u.add_argument("--out", required=True, help="the --out of the build")
    u.add_argument("--model", help="the model of the build (default: the one it recorded)")
    cluster_args(u)
    u.set_defaults(run=cmd_update)

    pl = sub.add_parser("plan", help="print the units (JSON lines) without building")
    unit_args(pl)
    pl.set_defaults(run=cmd_plan)

    r = sub.add_parser("repack", help="rewrite a one-stream dump as multistream + index")
    r.add_argument("source")
    r.add_argument("dest", help="X-multistream.xml.bz2 (X-multistream-index.txt.bz2 beside it)")
    r.add_argument("--pages-per-stream", type=int, default=100)
    r.set_defaults(run=cmd_repack)

    args = p.parse_args(argv)
    try:
        return args.run(args)
    except (OSError, ValueError) as e:
        _log(f"error: {e}")
        return 2
