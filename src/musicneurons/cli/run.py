"""The run-folder commands: ``reproduce`` (the paper end to end), ``analyze``, ``report`` and ``explore``, and
the read-only checks they make before any work."""

from __future__ import annotations

from pathlib import Path

from .errors import UserError
from .printing import print_findings
from .shared import _device


def _settings_from_args(a):
    from ..pipeline import DEFAULT_MODELS, Settings

    wanted = {k.strip() for k in a.models.split(",")}
    if not wanted <= {"2bar", "16bar"}:
        raise UserError(f"--models takes 2bar and/or 16bar, got {a.models!r}")
    keys = tuple(k for k in ("2bar", "16bar") if k in wanted)
    return Settings(
        corpus=a.corpus, n_melodies=a.n_melodies, per_file=a.per_file if a.per_file > 0 else None,
        n_random=a.n_random, models={"2bar": a.model_2bar or DEFAULT_MODELS["2bar"],
                                     "16bar": a.model_16bar or DEFAULT_MODELS["16bar"]},
        checkpoints={"2bar": a.checkpoint_2bar, "16bar": a.checkpoint_16bar}, keys=keys, workers=a.workers,
        seed=a.seed, sigma_threshold=a.sigma_threshold if a.sigma_threshold == "auto" else float(a.sigma_threshold),
        activation_threshold=a.activation_threshold, metrics=not a.no_metrics,
        n_intervention_melodies=a.n_intervention_melodies, device=_device(a.device), windows=a.windows,
        n_permutations=a.permutations, n_metric_permutations=a.metric_permutations)


def _first_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (where a write into ``path`` would land)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _read_only(folder: Path) -> bool:
    """A folder this process cannot write into, or one nobody may (``chmod a-w``: read-only even to root)."""
    import os

    try:
        mode = folder.stat().st_mode
    except OSError:
        return False
    return not os.access(folder, os.W_OK) or not mode & 0o222


def _refuse_read_only_run(root: Path):
    """One line, before any work, when the run folder (or one of its subfolders) is read-only."""
    root = Path(root)
    if not root.is_dir():
        if _read_only(_first_existing(root.parent)):
            raise UserError(f"{_first_existing(root.parent)}: read-only; choose a run folder elsewhere with -o")
        return
    try:
        subs = sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        subs = []
    for d in (root, *subs):
        if _read_only(d):
            raise UserError(f"{d}: the run folder is read-only; copy it somewhere writable to rerun it (its report: "
                            f"'musicneurons report {root} -o DIR')")


def cmd_reproduce(a):
    from ..pipeline import reproduce

    if a.corpus != "builtin" and not Path(a.corpus).exists():
        raise UserError(f"{a.corpus}: no such file or folder")
    _refuse_read_only_run(Path(a.output))
    from ..fileio import FolderLocked

    s = _settings_from_args(a)
    from ..model.checkpoint import SHIPPED

    for key in s.keys:  # before any work: a model that cannot load is one line, not a failure after extraction
        if s.checkpoints.get(key) is None and s.models[key] not in SHIPPED:
            raise UserError(f"--model-{key} {s.models[key]!r} is not a shipped model ({', '.join(SHIPPED)}); "
                            f"a Magenta config needs --checkpoint-{key} PATH")
        if s.checkpoints.get(key) is not None and not Path(s.checkpoints[key]).exists():
            raise UserError(f"--checkpoint-{key} {s.checkpoints[key]}: no such file or folder")
    try:
        summary = reproduce(a.output, s, log=lambda m: print(m, flush=True))
    except FolderLocked as e:
        raise UserError(str(e)) from None
    print_findings(summary)
    from ..run_folder import RunFolder

    print(f"report: {RunFolder(a.output).report_file}")


def cmd_analyze(a):
    from ..fileio import FolderLocked
    from ..pipeline import Run, Settings
    from ..run_folder import RunFolder, stage_name

    folder = RunFolder(a.run_dir)
    s = Settings.from_dict(folder.read_settings(), str(folder.settings_file))  # NotARunFolder/ValueError: one line
    _refuse_read_only_run(folder.root)
    try:
        run = Run(folder.root, s)
    except FolderLocked as e:
        raise UserError(str(e)) from None
    except OSError as e:
        raise UserError(f"{folder.root}: cannot write to the run folder ({e.strerror}); copy it somewhere "
                        "writable") from None
    try:
        run.recorded_keys()
        for key in s.keys:
            if a.force:
                folder.stage_record(stage_name("analyze", key)).unlink(missing_ok=True)
            run.analyze(key)
        print_findings(run.summary())
    finally:
        run.close()


def cmd_report(a):
    import os

    from ..report import build_report
    from ..run_folder import RunFolder

    folder = RunFolder(a.run_dir)
    if not folder.summary_file.exists():
        raise UserError(f"{folder.root}: no analysis/summary.json; run 'musicneurons reproduce -o {folder.root}' first")
    target = Path(a.output) if a.output else folder.report_file
    if a.output and (target.is_dir() or a.output.endswith(("/", os.sep))):  # -o DIR: DIR/index.html
        target = target / "index.html"
    if target.exists() and not target.is_file():
        raise UserError(f"{target}: not a regular file; give -o a file name (FILE.html) or a folder")
    where = _first_existing(target.parent)
    if not where.is_dir():
        raise UserError(f"{where}: not a folder; cannot write {target}")
    if _read_only(where):
        raise UserError(f"{where}: not writable (a read-only run?); write the report elsewhere with -o FILE.html or "
                        "-o DIR")
    print(f"report: {build_report(folder.root, target)}")


def cmd_explore(a):
    from ..explore import NotARunError, serve

    try:
        serve(a.run_dir, host=a.host, port=a.port, open_browser=a.open, device=_device(a.device), threads=a.threads)
    except NotARunError as e:
        raise UserError(str(e)) from None
    except OSError as e:
        raise UserError(f"cannot listen on {a.host}:{a.port} ({e.strerror or e}); pick another --port (or "
                        "--host)") from None
