"""collect.sh's runner: the plan (plan.py), then each stage under its own time budget.

Every stage runs as a child process in its own session, killed (the whole group) when its
budget runs out; it writes as it goes, so what it measured stays, and running the same
command again with the same ``--out`` resumes it. A stage that fails does not stop the
next. The log (``collect.log``) gets one ``STAGE`` line per stage (name, budget, seconds
used, status) that summarize.py turns into the README's table.

Exit status: 0 when every planned stage ran or was skipped by design, 1 when one failed or
ran out of time (its partial data is kept), 2 on bad usage (one line).

>>> args = parse(["--backend", "gpu", "--stages", "decoder,quant", "--out=run"])
>>> args["backend"], args["stages"], args["out"], args["dry"]
('cupy', 'decoder,quant', 'run', False)
>>> parse(["--wheel", ".whl"])
Traceback (most recent call last):
...
collect.Usage: argument --wheel: unknown; allowed: --dry-run, --backend, --out, --wheels, --hw, --stages, --skip, --budget, --help
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(ROOT))
from plan import (TOTAL_LIMIT, PlanError, detect_profile, device_name, existing_data, make_plan,  # noqa: E402
                  planned_total, render_plan, slug)

USAGE = """usage: collect.sh [--dry-run] [--backend cupy|numpy] [--out DIR] [--wheels DIR] [--hw NAME]
                  [--stages a,b,...] [--skip a,b,...] [--budget name=seconds,...]"""
OPTIONS = ("--dry-run", "--backend", "--out", "--wheels", "--hw", "--stages", "--skip", "--budget", "--help")
MARGIN_S = 12  # a stage's own deadline sits this far inside its timeout, so it stops between points


class Usage(Exception):
    pass


def parse(argv: list[str]) -> dict:
    args = {"dry": False, "backend": "cupy", "out": None, "wheels": None, "hw": None, "stages": None, "skip": None,
            "budget": None}
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, value = arg.partition("=")
        if arg == "--dry-run":
            args["dry"] = True
        elif arg in ("-h", "--help"):
            args["help"] = True
        elif name in OPTIONS and name not in ("--dry-run", "--help"):
            if not eq:
                i += 1
                if i >= len(argv):
                    raise Usage(f"argument {name}: needs a value")
                value = argv[i]
            args[name[2:]] = value
        else:
            raise Usage(f"argument {arg}: unknown; allowed: {', '.join(OPTIONS)}")
        i += 1
    backend = {"gpu": "cupy", "cupy": "cupy", "numpy": "numpy"}.get(args["backend"])
    if backend is None:
        raise Usage(f"--backend: got '{args['backend']}'; allowed: cupy, numpy")
    args["backend"] = backend
    return args


def budgets(text: str | None, plan) -> dict[str, int]:
    out = {}
    names = [s.name for s in plan]
    for item in (text or "").split(","):
        if not item.strip():
            continue
        name, _, seconds = item.partition("=")
        if name.strip() not in names or not seconds.strip().isdigit():
            raise Usage(f"--budget: got '{item}'; allowed: NAME=SECONDS with NAME one of {', '.join(names)}")
        out[name.strip()] = int(seconds)
    return out


def profile_of(args: dict) -> tuple[str, bool, str]:
    """(profile, whether sparsim has it, how it was found)."""
    from sparsim.hwprofiles import list_profiles

    if args["hw"]:
        return args["hw"], args["hw"] in list_profiles() or args["hw"] == "host", "--hw"
    if args["backend"] == "numpy":
        return "host", True, "this CPU"
    name, memory = device_name()
    if name is None:
        return "unknown-device", True, ("no GPU seen here: planned as on one that maps to a profile "
                                        "(--hw NAME shows what that SKU skips)")
    profile = detect_profile(name, memory)
    if profile is None:
        return slug(name), False, f"{name}: no sparsim profile (pass --hw NAME)"
    known = profile in list_profiles()
    return profile, known, f"{name}" + ("" if known else f" -> {profile}, not in this checkout (pass --hw)")


class Runner:
    def __init__(self, out: Path, log: Path, env: dict):
        self.out, self.log, self.env, self.failures = out, log, env, 0

    def note(self, text: str) -> None:
        with self.log.open("a") as f:
            f.write(text + "\n")

    def call(self, cmd: list[str], timeout: float) -> int:
        """Run ``cmd`` with its output in the log; kill its process group at ``timeout``."""
        with self.log.open("a") as f:
            proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=self.env, cwd=ROOT,
                                    start_new_session=True)
            try:
                return proc.wait(timeout=max(timeout, 1))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                return 124

    def stage(self, name: str, budget: int, body) -> None:
        """Run ``body(budget) -> exit status`` and record the outcome."""
        start = time.monotonic()
        self.note(f"== stage {name} (budget {budget}s)")
        try:
            rc = body(budget)
        except Exception as exc:  # noqa: BLE001 - a broken stage must not stop the next
            self.note(f"stage {name}: {type(exc).__name__}: {exc}")
            rc = 1
        used = int(round(time.monotonic() - start))
        tail = self.log.read_text(errors="replace").splitlines()[-3:]
        if rc == 0:
            status = "partial (deadline; run again to resume)" if any("partial (deadline)" in t for t in tail) else "ok"
        elif rc in (124, 137):
            status, self.failures = "timed out (partial data kept; run again to resume)", self.failures + 1
        elif rc == 3:
            status = "skipped (see collect.log)"
        else:
            status, self.failures = f"failed (exit {rc}; see collect.log)", self.failures + 1
        self.note(f"STAGE\t{name}\t{budget}\t{used}\t{status}")
        print(f"collect.sh: {name}: {status} ({used}s of {budget}s)", flush=True)


def stage_bodies(run: Runner, py: str, backend: str, profile: str, wheels: str | None) -> dict:
    out = run.out
    hw = [] if backend == "numpy" else ["--hw", profile]

    def script(name, *extra):
        def body(budget):
            start = time.monotonic()
            while True:  # exit 4: the CUDA context broke; a fresh process resumes while time is left
                left = budget - (time.monotonic() - start)
                margin = min(MARGIN_S, budget // 4)  # a short (CPU) stage keeps most of its budget
                rc = run.call([py, str(HERE / name), *extra, "--deadline-s", str(max(round(left) - margin, 1))], left)
                if rc != 4 or left < 3 * MARGIN_S:
                    return rc
                run.note(f"{name}: exit 4 (CUDA context broken): resuming in a fresh process")
        return body

    def env(budget):
        rc = 0
        if wheels:
            found = sorted(Path(wheels).glob("*.whl"))
            if not found:
                run.note(f"env: no .whl in {wheels}")
                return 1
            site = Path(tempfile.gettempdir()) / "sparsim-site"
            rc = run.call([py, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                           "--no-cache-dir", "--upgrade", "--target", str(site), *map(str, found)], budget - 3)
            if rc == 0:
                run.env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{site}" + (
                    os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")
        # versions of torch and the libraries go into each stage's run header and the README
        run.call([py, "-c", "import sys, platform; print('python', platform.python_version(), sys.executable)"], 5)
        if shutil.which("nvidia-smi"):
            run.call(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,"
                      "temperature.gpu,power.draw,power.limit", "--format=csv"], 5)
        return rc

    def fit(budget):
        sys.path.insert(0, str(HERE))
        from summarize import merge_probe

        start = time.monotonic()
        results = out / "results.jsonl"
        rc = 3
        if not results.exists():
            run.note("fit skipped: this run measured no results.jsonl")
        elif run.call([py, "-c", "import simpy"], 5) != 0:
            run.note("fit skipped: simpy not importable (carry its wheel: --wheels .whl); fit later with "
                     f"'sparsim calibrate --from-results results.jsonl {' '.join(hw)}' on any machine")
        else:
            with tempfile.TemporaryDirectory() as tmp:
                fit_hw = ["--hw", "host"] if backend == "numpy" else hw  # the CPU's profile is measured, not built in
                rc = run.call([py, "-m", "sparsim", "calibrate", "--from-results", str(results), "--out", tmp,
                               *fit_hw], budget - 2 - (time.monotonic() - start))
                for name in ("calibration.toml", "calibration.rejected.toml"):
                    if (Path(tmp) / name).exists():
                        shutil.copy(Path(tmp) / name, out / name)
        run.note(merge_probe(out))
        return rc

    def readme(budget):
        from records import DEVICE_FILE_BYTES, pack_for_device

        rc = run.call([py, str(HERE / "summarize.py"), "readme", str(out), "--backend", backend], budget - 2)
        moved = pack_for_device(out)
        if moved:
            run.note(f"readme: {len(moved)} files packed into more.tar for the device tool: {', '.join(moved)}")
        large = [p.name for p in out.rglob("*") if p.is_file() and p.stat().st_size > DEVICE_FILE_BYTES]
        if large:
            run.note(f"readme: warning: over the 16 MiB the device tool brings back per file: {', '.join(large)}")
        return rc

    bodies = {
        "env": env,
        "decoder": script("decoder_step.py", "--out", str(out), *(["--device", "cpu"] if backend == "numpy" else hw)),
        "quant": script("quant_paths.py", "--out", str(out / "quant.jsonl"), *hw),
        "attention": script("attention_ops.py", "--out", str(out / "attention.jsonl"), *hw),
        "traces": script("atlas_traces.py", "--out", str(out)),
        "probe": lambda b: run.call([py, "-m", "sparsim", "probe", "--backend", backend, "--out",
                                     str(out / "probe.json"), *hw, *(["--quick"] if b < 60 else [])], b),
        "fit": fit,
        "readme": readme,
    }
    for kind, plan_name, file in (("measure", "quick", "results.jsonl"), ("atlas", "atlas", "atlas.jsonl")):
        for be in ("cupy", "torch", "numpy"):
            bodies[f"{kind}-{be}"] = script("measure.py", "--backend", be, "--plan", plan_name, "--out",
                                            str(out / file), *hw)
    return bodies


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = parse(argv)
        if args.get("help"):
            print(USAGE)
            return 0
        profile, known, how = profile_of(args)
        data_root = ROOT / "sparsim" / "validate" / "data"
        plan = make_plan(args["backend"], args["stages"], args["skip"],
                         existing_data(data_root, profile if known else None), profile_known=known)
        from dataclasses import replace

        override = budgets(args["budget"], plan)
        plan = [replace(s, budget_s=override.get(s.name, s.budget_s)) for s in plan]
    except (Usage, PlanError) as exc:
        print(f"collect.sh: error: {exc}", file=sys.stderr)
        return 2
    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d")
    out = Path(args["out"]) if args["out"] else data_root / f"{profile}-{date}"
    total = planned_total(plan)
    if args["dry"]:
        shown = str(out) if args["out"] else f"sparsim/validate/data/{profile}-{date}/"
        print(render_plan(plan, args["backend"], shown, f"{profile} ({how})"))
        if total > TOTAL_LIMIT:
            print(f"collect.sh: error: stage budgets sum to {total}s; allowed: <= {TOTAL_LIMIT}s", file=sys.stderr)
            return 1
        return 0
    if total > TOTAL_LIMIT:
        print(f"collect.sh: error: --stages/--budget: budgets sum to {total}s; allowed: <= {TOTAL_LIMIT}s "
              "(one call of the device tool)", file=sys.stderr)
        return 2
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"collect.sh: error: --out: cannot create {out} ({exc.strerror}); allowed: a writable folder",
              file=sys.stderr)
        return 2
    py = os.environ.get("PYTHON") or sys.executable
    env = {**os.environ, "PYTHONPATH": str(ROOT) + (os.pathsep + os.environ["PYTHONPATH"]
                                                    if os.environ.get("PYTHONPATH") else ""), "PYTHONUNBUFFERED": "1"}
    run = Runner(out, out / "collect.log", env)
    run.note(f"== collect.sh {args['backend']} {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')} "
             f"into {out}; profile {profile} ({how})")
    run.note(render_plan(plan, args["backend"], str(out), profile))
    bodies = stage_bodies(run, py, args["backend"], profile, args["wheels"])
    for stage in plan:
        if stage.run:
            run.stage(stage.name, stage.budget_s, bodies[stage.name])
        else:
            run.note(f"STAGE\t{stage.name}\t0\t0\t{stage.note}")
    print(f"collect.sh: done; {run.failures} stage(s) failed or ran out of time; everything is in {out}")
    return 0 if run.failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
