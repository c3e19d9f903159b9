"""Mutation testing, one module group at a time, with mutmut 3 (see mutation/README.md).

    python mutation/run.py run [GROUP ...] [--budget S] [--max-children N] [--fresh]
    python mutation/run.py report GROUP            # rewrite mutation/report-GROUP.txt
    python mutation/run.py show GROUP MUTANT       # the diff of one mutant
    python mutation/run.py equivalent GROUP MUTANT "one-line reason"
    python mutation/run.py equivalent GROUP --from FILE   # lines: MUTANT-or-glob  reason
    python mutation/run.py mutmut GROUP ARGS...    # any mutmut command in the group's work dir

Each group (mutation/groups.toml) runs in mutation/work/<group>/ (gitignored): links to
the sources and tests, and mutmut's own mutants/ tree with a verdict per mutant, so a
run cut short by its time budget resumes where it stopped.  mutmut reads its settings
from [tool.mutmut] in pyproject.toml; the group's files (only_mutate) and test selection
are added here.  Mutants listed in mutation/equivalent.txt are marked "skipped" before
a run (and so never run again) as long as their diff is unchanged; the report counts
them apart and leaves them out of the score.  The mutants a run killed are kept in
mutation/verdicts/<group>.txt (committed) with a hash of the mutant and its whole function:
a fresh checkout takes them as killed while that function is unchanged, so a full run is
spread over several sessions instead of starting again each time (`--fresh`: run them all).
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "mutation"
WORK = HERE / "work"
EQUIVALENT = HERE / "equivalent.txt"
VERDICTS = HERE / "verdicts"  # <group>.txt: mutants killed in an earlier checkout, kept with the repo
LINKS = ["bot", "handlers", "scheduler", "tests", "samples", "pyproject.toml", "config.example.toml", "README.md"]

# mutmut's exit codes, grouped the way the report counts them
KILLED = {1, 3}
SURVIVED = {0}
NO_TESTS = {5, 33}
SKIPPED = {34}
TIMEOUT = {36, 24, -24, 152, 255}
RETRY = {2, -2, -9, -15, 130}  # interrupted (budget ran out): tried again next run


def groups() -> dict[str, dict]:
    return tomllib.loads((HERE / "groups.toml").read_text())["groups"]


def equivalents() -> dict[str, tuple[str, str]]:
    """mutant name -> (diff fingerprint, reason)."""
    out: dict[str, tuple[str, str]] = {}
    if not EQUIVALENT.exists():
        return out
    for line in EQUIVALENT.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, fp, reason = (part.strip() for part in line.split("|", 2))
        out[name] = (fp, reason)
    return out


def fingerprint(diff: str) -> str:
    body = [ln for ln in diff.splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    return hashlib.sha1("\n".join(body).encode()).hexdigest()[:10]


def whole_fingerprint(diff: str) -> str:
    """The mutant with its whole function (mutmut's diff shows the function): any change to the
    function makes a kept verdict lapse, as mutmut's own verdicts do."""
    return hashlib.sha1(diff.encode()).hexdigest()[:12]


def verdicts(group: str) -> dict[str, tuple[str, int]]:
    """mutant name -> (whole fingerprint, exit code) of the mutants killed in an earlier run."""
    path = VERDICTS / f"{group}.txt"
    if not path.exists() or os.environ.get("MUTATION_FRESH"):
        return {}
    out = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, fp, code = (part.strip() for part in line.split("|"))
            out[name] = (fp, int(code))
    return out


def save_verdicts(group: str, meta: dict[str, dict[str, int | None]]) -> None:
    """Keep the killed and timed-out mutants of this group with their whole fingerprints."""
    lines = [f"# mutation/run.py: mutants of group {group} the tests killed (name | whole diff hash | exit code).",
             "# A fresh checkout takes these as killed while the function is unchanged; MUTATION_FRESH=1 re-runs all."]
    kept = verdicts(group)  # an interrupted run leaves mutants without a verdict: their kills stay kept
    for path, codes in meta.items():
        for name, code in sorted(codes.items()):
            if code in KILLED or code in TIMEOUT:
                lines.append(f"{name} | {whole_fingerprint(_diff(name, path))} | {code}")
            elif code is None and name in kept and kept[name][0] == whole_fingerprint(_diff(name, path)):
                lines.append(f"{name} | {kept[name][0]} | {kept[name][1]}")
    VERDICTS.mkdir(exist_ok=True)
    (VERDICTS / f"{group}.txt").write_text("\n".join(lines) + "\n")


def workdir(group: str) -> Path:
    wd = WORK / group
    wd.mkdir(parents=True, exist_ok=True)
    for name in LINKS:
        link = wd / name
        if not link.exists() and not link.is_symlink() and (ROOT / name).exists():
            link.symlink_to(os.path.relpath(ROOT / name, wd))
    return wd


# ---- inside a child process: mutmut itself, configured for one group ----

_GROUP = [""]


def _enter(group: str) -> None:
    _GROUP[0] = group
    spec = groups()[group]
    base = tomllib.loads((ROOT / "pyproject.toml").read_text()).get("tool", {}).get("mutmut", {})
    tests = [t for t in spec["tests"] if t.startswith("-") or (ROOT / t).exists()]
    cfg = {**base, "only_mutate": spec["mutate"], "pytest_add_cli_args_test_selection": tests}
    os.environ.update(spec.get("env", {}))  # e.g. the PostgreSQL test database of a -pg group
    os.chdir(workdir(group))
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT]
    import mutmut.configuration as mc

    mc._config_reader = lambda: (lambda key, default: cfg.get(key, default))
    mc.reset_config()


def _diff(name: str, path: str | None = None) -> str:
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    try:
        return get_diff_for_mutant(name, path=path)
    except Exception as e:  # noqa: BLE001  (a mutant that no longer exists)
        return f"(no diff: {e})"


def _skip_equivalents() -> None:
    """Before a run: equivalents with an unchanged diff become "skipped"; interrupted ones are retried."""
    import mutmut.__main__ as mm

    original = mm.collect_source_file_mutation_data
    eq = equivalents()
    kept = verdicts(_GROUP[0])

    def collect(*, mutant_names):  # noqa: ANN001, ANN202
        mutants, by_path = original(mutant_names=mutant_names)
        out = []
        for m, name, result in mutants:
            if result in RETRY or result in SURVIVED or result in NO_TESTS:
                # interrupted, or not killed last time: try again (the tests may have changed since)
                result = m.exit_code_by_key[name] = None
            if name in eq and result not in SKIPPED and fingerprint(_diff(name, m.path)) == eq[name][0]:
                result = m.exit_code_by_key[name] = 34
            elif name not in eq and result in SKIPPED:
                result = m.exit_code_by_key[name] = None  # no longer listed: try it again
            if result is None and name in kept and whole_fingerprint(_diff(name, m.path)) == kept[name][0]:
                result = m.exit_code_by_key[name] = kept[name][1]  # killed before, function unchanged
            m.save()
            out.append((m, name, result))
        return out, by_path

    mm.collect_source_file_mutation_data = collect


def _meta(group: str) -> dict[str, dict[str, int | None]]:
    """path -> {mutant name: exit code} for the group's files."""
    from mutmut.configuration import config
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.utils.file_utils import walk_mutatable_files

    config()
    out = {}
    for path in sorted(walk_mutatable_files()):
        m = SourceFileMutationData(path=path)
        try:
            m.load()
        except ValueError:  # a .meta file cut short (a run stopped while writing it): not checked yet
            print(f"   {path}: its verdict file is unreadable; counted as not checked", file=sys.stderr)
            continue
        out[str(path)] = dict(m.exit_code_by_key)
    return out


def classify(code: int | None) -> str:
    if code in KILLED:
        return "killed"
    if code in SURVIVED:
        return "survived"
    if code in SKIPPED:
        return "equivalent"
    if code in TIMEOUT:
        return "timeout"
    if code in NO_TESTS:
        return "no tests"
    if code is None:
        return "not checked"
    return "suspicious"


def _report(group: str) -> str:
    eq = equivalents()
    meta = _meta(group)
    runs = json.loads((WORK / group / "runs.json").read_text()) if (WORK / group / "runs.json").exists() else []
    cols = ["killed", "survived", "equivalent", "timeout", "no tests", "suspicious", "not checked"]
    lines = [f"mutation report, group {group}  ({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, mutmut 3)",
             f"tests: {' '.join(groups()[group]['tests'])}",
             f"run time so far: {sum(r['seconds'] for r in runs):.0f} s over {len(runs)} run(s)", "",
             "score = (killed + timeout) / (killed + timeout + survived + no tests); equivalents left out", "",
             f"{'module':34} " + " ".join(f"{c:>11}" for c in cols) + "      score"]
    survivors: list[tuple[str, str, str]] = []
    stale: list[str] = []
    totals = dict.fromkeys(cols, 0)
    for path, codes in meta.items():
        counts = dict.fromkeys(cols, 0)
        for name, code in codes.items():
            kind = classify(code)
            if name in eq and kind in ("survived", "no tests") and fingerprint(_diff(name, path)) == eq[name][0]:
                kind = "equivalent"  # listed since the last run: skipped from the next one on
            counts[kind] += 1
            if kind in ("survived", "no tests", "suspicious", "timeout") or kind == "not checked":
                survivors.append((kind, name, path))
            if name in eq and kind != "equivalent":
                stale.append(name)
        for c in cols:
            totals[c] += counts[c]
        lines.append(f"{path:34} " + " ".join(f"{counts[c]:>11}" for c in cols) + f"  {score(counts)}")
    lines.append(f"{'total':34} " + " ".join(f"{totals[c]:>11}" for c in cols) + f"  {score(totals)}")
    if stale:
        lines += ["", "listed as equivalent but the diff changed (re-triage):"] + [f"  {n}" for n in stale]
    order = {"survived": 0, "no tests": 1, "suspicious": 2, "timeout": 3, "not checked": 4}
    survivors.sort(key=lambda s: (order[s[0]], s[1]))
    shown = [s for s in survivors if s[0] != "not checked"]
    lines += ["", f"mutants not killed ({len(shown)}; timeouts count as killed but are listed):", ""]
    for kind, name, path in shown:
        lines += [f"## {kind}: {name}", _diff(name, path).rstrip(), ""]
    unchecked = [s for s in survivors if s[0] == "not checked"]
    if unchecked:
        lines += [f"not checked yet ({len(unchecked)}): the budget ran out; `make mutate GROUP={group}` resumes", ""]
    return "\n".join(lines) + "\n"


def score(c: dict[str, int]) -> str:
    detected = c["killed"] + c["timeout"]
    tried = detected + c["survived"] + c["no tests"]
    return f"{100 * detected / tried:6.1f}%" if tried else "     -"


def inside(argv: list[str]) -> None:
    action, group, *rest = argv
    _enter(group)
    if action == "run":
        _skip_equivalents()
        import mutmut.__main__ as mm

        mm.cli(["run", *rest], standalone_mode=True)
    elif action == "report":
        (HERE / f"report-{group}.txt").write_text(_report(group))
        save_verdicts(group, _meta(group))
        print(f"wrote mutation/report-{group}.txt and mutation/verdicts/{group}.txt")
    elif action == "show":
        print(_diff(rest[0]))
    elif action == "equivalent":
        # one mutant and its reason, or --from FILE with lines "MUTANT-or-glob  reason" (same reason, many mutants)
        import fnmatch

        pairs = [ln.split(None, 1) for ln in Path(rest[1]).read_text().splitlines()
                 if ln.strip() and not ln.startswith("#")] \
            if rest[0] == "--from" else [[rest[0], " ".join(rest[1:])]]
        # only mutants the tests do not kill can be recorded (a glob never swallows a killed one);
        # one not checked yet may be (triaged ahead of the run reaching it)
        known = [n for codes in _meta(group).values() for n, c in codes.items()
                 if c is None or c in SURVIVED | NO_TESTS | SKIPPED]
        lock = open(WORK / ".equivalent.lock", "a")  # noqa: SIM115  (several groups triaged at once)
        fcntl.flock(lock, fcntl.LOCK_EX)
        lines = EQUIVALENT.read_text().splitlines()
        for pattern, reason in pairs:
            reason = reason.strip()
            assert reason and "\n" not in reason, f"{pattern}: give a one-line reason"
            names = [n for n in known if fnmatch.fnmatchcase(n, pattern)]
            assert names, f"no mutant matches {pattern}"
            for name in names:
                lines = [ln for ln in lines if not ln.startswith(name + " ")]
                lines.append(f"{name} | {fingerprint(_diff(name))} | {reason}")
                print(f"recorded {name} as equivalent")
        tmp = EQUIVALENT.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        tmp.replace(EQUIVALENT)  # a run reading the list meanwhile sees the old one or the new one, whole
        lock.close()
    elif action == "summary":
        meta = _meta(group)
        print(json.dumps({p: {k: sum(1 for c in codes.values() if classify(c) == k) for k in
                              ("killed", "survived", "equivalent", "timeout", "no tests", "suspicious", "not checked")}
                          for p, codes in meta.items()}))
    elif action == "mutmut":
        import mutmut.__main__ as mm

        mm.cli(rest, standalone_mode=True)


# ---- the outer process: budgets, reports ----

def child(*args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "_in", *args]


def run_group(group: str, budget: float, max_children: int) -> None:
    spec = groups()[group]
    budget = budget or spec.get("budget", 1800)
    wd = workdir(group)
    print(f"== mutate {group}: {', '.join(spec['mutate'])} (budget {budget:.0f} s, {max_children} workers)", flush=True)
    start = time.monotonic()
    log = open(wd / "mutmut.log", "w")  # noqa: SIM115  (mutmut's progress output; the report is the result)
    proc = subprocess.Popen(child("run", group, "--max-children", str(max_children)), start_new_session=True,
                            stdout=log, stderr=subprocess.STDOUT)
    finished = True
    try:
        proc.wait(timeout=budget)
    except subprocess.TimeoutExpired:
        finished = False
        print(f"\n== {group}: budget of {budget:.0f} s used up, stopping (the next run resumes)", flush=True)
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    seconds = time.monotonic() - start
    log.close()
    runs_file = wd / "runs.json"
    runs = json.loads(runs_file.read_text()) if runs_file.exists() else []
    runs.append({"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "seconds": round(seconds),
                 "finished": finished, "exit": proc.returncode})
    runs_file.write_text(json.dumps(runs, indent=1))
    subprocess.run(child("report", group), check=False)
    report = (HERE / f"report-{group}.txt").read_text().splitlines()
    table = report[report.index(next(ln for ln in report if ln.startswith("module"))):]
    print("\n".join(table[:table.index("")] if "" in table else table))
    if proc.returncode not in (0, None) and finished:
        print(f"mutmut stopped with exit code {proc.returncode}; see {wd / 'mutmut.log'}")
    print(f"== {group}: {seconds:.0f} s", flush=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_in":
        inside(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("groups", nargs="*")
    r.add_argument("--budget", type=float, default=0, help="seconds per group (default: the group's budget)")
    r.add_argument("--max-children", type=int, default=2)
    r.add_argument("--fresh", action="store_true",
                   help="ignore mutation/verdicts/ (mutants killed in an earlier checkout): run every mutant")
    for name in ("report", "show", "equivalent", "mutmut", "summary"):
        p = sub.add_parser(name)
        p.add_argument("group")
        p.add_argument("rest", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    if a.cmd == "run":
        chosen = a.groups or list(groups())
        unknown = set(chosen) - set(groups())
        if unknown:
            ap.error(f"unknown group(s) {sorted(unknown)}; groups: {', '.join(groups())}")
        if a.fresh:
            os.environ["MUTATION_FRESH"] = "1"  # read by the children
        for g in chosen:
            run_group(g, a.budget, a.max_children)
        return
    if a.group not in groups():
        ap.error(f"unknown group {a.group}; groups: {', '.join(groups())}")
    rest = list(a.rest)
    if a.cmd == "equivalent" and rest[:1] == ["--from"] and len(rest) > 1:
        rest[1] = str(Path(rest[1]).resolve())  # the child runs in the group's work directory
    sys.exit(subprocess.run(child(a.cmd, a.group, *rest)).returncode)


if __name__ == "__main__":
    main()
