"""The Kaggle commands: sync, kaggle-init, chain, doctor, prepare, publish-wheel, notebooks."""

from __future__ import annotations

import sys

from .cli_common import print_json


def cmd_sync(args) -> int:
    """push: the latest valid checkpoint as a new store version; pull: the best one into the run folder."""
    import tempfile

    from .kaggle.bundle import run_name_of, write_version
    from .kaggle.store_uri import open_store
    from .kaggle.sync import carry_dir

    store = open_store(args.store)
    if args.action == "push":
        import contextlib
        from pathlib import Path

        from .runlock import run_lock

        # a push writes the run folder (it refreshes RUN/store-carry): never beside a session (runlock.py);
        # a folder that does not exist has nothing to push, and is not created for the lock
        lock = run_lock(args.output_dir, "sync push") if Path(args.output_dir).is_dir() else contextlib.nullcontext()
        with lock, tempfile.TemporaryDirectory(prefix="t2sql-push-") as tmp:
            name = run_name_of(args.output_dir)
            manifest = write_version(tmp, args.output_dir, carry_dir(args.output_dir))["runs"][name]
            version = store.commit(tmp, note=f"step {manifest['global_step']}", run_name=name,
                                   carry=carry_dir(args.output_dir)).id
        print(f"pushed run {name} step {manifest['global_step']} ({manifest['checkpoint']}) to {store.uri} as version {version}")
    elif args.action == "pull":
        _pull(args, store)
    else:
        print_json(store.status())
    return 0


def _pull(args, store) -> None:
    """The run of the folder (or --run-name, or the store's only run) into the folder: a training run's best
    checkpoint, or a `sample` run's files (samples.jsonl and the rft / pairs / report derived from it)."""
    from .checkpoints import KaggleCheckpointManager
    from .errors import ConfigError
    from .eval.sampling import SAMPLE_KIND, pull_sample_run
    from .kaggle.sync import pull_for_session

    run = KaggleCheckpointManager(args.output_dir).load_manifest() or {}
    config = run.get("config") or ({"run_name": args.run_name} if args.run_name else None)
    if config is None:  # an empty folder: the store's only run, if it holds exactly one
        names = sorted((store.index() or {}).get("runs", {}))
        if len(names) != 1:
            raise ConfigError(f"{args.output_dir} holds no run yet and {store.uri} holds "
                              f"{'runs ' + ', '.join(names) if names else 'no run'}: "
                              "pass --run-name NAME to pull one run of the store")
        config = {"run_name": names[0]}
    name = config["run_name"]
    if (store.latest(name) or {}).get("kind") == SAMPLE_KIND:
        report = pull_sample_run(store, args.output_dir, name)
        print(f"pulled sample run {name}: {report['done']} of {report['total']} questions "
              f"({'finished' if report['finished'] else 'not finished'}); wrote samples.jsonl, rft.jsonl, pairs.jsonl, "
              f"report.json in {args.output_dir}")
        return
    print(pull_for_session(args.output_dir, store, args.input_root, config, run.get("plan")).summary())


def cmd_chain(args) -> int:
    """Push the training kernel session after session until the run is done (never while one runs)."""
    from .kaggle.auth import check_client, kaggle_api
    from .kaggle.chain import run_chain
    from .kaggle.kernel import load_spec
    from .kaggle.store_uri import open_store

    spec = load_spec(args.folder)
    spec.check()
    check_client()
    api = kaggle_api()
    report = run_chain(api, spec.kernel, args.folder, open_store(f"kaggle:{spec.store}", api=api),
                       spec.config().run_name, max_sessions=args.max_sessions, poll_s=args.poll_seconds,
                       wait_running=not args.no_wait, cap_wait_s=args.cap_wait_minutes * 60)
    return 0 if report.stop_reason == "finished" or report.stop_reason.startswith("max sessions") else 1


def cmd_doctor(args) -> int:
    """What a Kaggle session needs, one line per check with its fix; exit 1 on a session-wasting failure."""
    from .kaggle.doctor import doctor
    from .kaggle.kernel import load_spec

    store, wheel = args.store, ""
    if args.folder:
        spec = load_spec(args.folder)
        store, wheel = store or f"kaggle:{spec.store}", spec.wheel_dataset
    checks = doctor(store, need_gpu=args.need_gpu, wheel_dataset=wheel)
    return 1 if any(c.fatal and not c.ok for c in checks) else 0


def cmd_kaggle_init(args) -> int:
    """From zero to a kernel ready to chain: checks, datasets, kernel-metadata.json + parameterized notebook."""
    from .kaggle.auth import check_client
    from .kaggle.init import init_kernel

    spec = kernel_spec_of(args)
    check_client()
    for line in init_kernel(spec, args.folder, publish_wheel=args.wheel, wheel_deps=not args.no_wheel_deps,
                            create_store=not args.no_create_store):
        print(line)
    return 0


def kernel_spec_of(args):
    """kaggle-init's arguments as the KernelSpec (its --method / --init-adapter / --pairs as settings)."""
    from .config_overrides import parse_set_args
    from .kaggle.kernel import KernelSpec

    overrides, data_source, data_path = parse_set_args(args.set_args), args.data_source, args.data_path
    overrides.update(method_overrides(args))
    if args.pairs:  # dpo / orpo: the pairs.jsonl of a `sample` run is the stage
        data_source, data_path = "pairs", args.pairs
    task, sample = "train", {}
    if args.method == "sample":  # sessions of `kaggle-t2sql sample`: a run of the store named "samples" by default
        from .eval.sampling import SampleSettings  # its defaults, where a flag was not given

        task, sample = "sample", {
            "samples": SampleSettings.samples if args.samples is None else args.samples,
            "temperature": SampleSettings.temperature if args.temperature is None else args.temperature,
            "gold_as_chosen": args.gold_as_chosen}
        if args.max_new_tokens:
            sample["max_new_tokens"] = args.max_new_tokens
    spec = KernelSpec(
        user=args.user, kernel_slug=args.kernel_slug, store_slug=args.store_slug, preset=args.preset,
        run_name=args.run_name or ("samples" if task == "sample" else ""), data_source=data_source, data_path=data_path,
        task=task, sample=sample,
        per_complexity=args.per_complexity, limit=args.limit, time_budget_minutes=args.time_budget_minutes,
        overrides=overrides, package_source=args.package_source,
        dataset_sources=list(args.dataset_source), model_sources=list(args.model_source),
        internet=not args.no_internet, self_chain=args.self_chain, max_sessions=args.max_sessions,
        eval_limit=args.eval_limit, wheel_dataset=f"{args.user}/{args.wheel_slug}" if args.wheel else "")
    if task == "sample":  # its settings and data, refused here (the data is only mounted in the session)
        from .eval.sampling import session_settings

        session_settings(spec.config(), sample, resolve=False)
    return spec


def method_overrides(args) -> dict:
    """kaggle-init's --method / --init-adapter / --pairs as settings (checked with the rest by KernelSpec.check);
    flags that belong to another method are refused here."""
    from .errors import ConfigError

    sample_flags = [flag for flag, value in (("--samples", args.samples), ("--temperature", args.temperature),
                    ("--max-new-tokens", args.max_new_tokens), ("--gold-as-chosen", args.gold_as_chosen or None))
                    if value is not None]
    if sample_flags and args.method != "sample":  # silently training instead of sampling would waste a session
        raise ConfigError(f"{', '.join(sample_flags)}: for sample sessions only, not --method {args.method}: add "
                          f"--method sample, or drop {'it' if len(sample_flags) == 1 else 'them'}")
    if args.pairs and args.method not in ("dpo", "orpo"):
        raise ConfigError(f"--pairs feeds --method dpo or orpo, not {args.method}")
    if args.method in ("dpo", "orpo") and not args.pairs:
        raise ConfigError(f"--method {args.method} trains on preference pairs: pass --pairs kaggle:<you>/<dataset>/"
                          "pairs.jsonl (a `kaggle-t2sql sample` run's pairs.jsonl, published and attached with "
                          "--dataset-source)")
    out = {"training.method": args.method} if args.method not in ("sft", "sample") else {}
    if args.init_adapter:
        out["training.init_adapter"] = args.init_adapter
    return out


def cmd_prepare(args) -> int:
    """Sample a training subset into a folder (and publish it as a Kaggle Dataset)."""
    from .config import StageConfig
    from .kaggle.prepare import publish_folder, write_subset

    stage = StageConfig(name="subset", source=args.source, path=args.path or "", split=args.split,
                        per_complexity=args.per_complexity, limit=args.limit)
    summary = write_subset(stage, args.out, seed=args.seed)
    print_json(summary)
    if args.publish:
        version = publish_folder(args.publish, args.out, note=f"{summary['examples']} examples")
        print(f"published {args.out} as {args.publish} version {version}")
    return 0


def cmd_publish_wheel(args) -> int:
    """Build the package wheel (+ the wheels Kaggle's image lacks) and publish them as a dataset."""
    import tempfile
    from pathlib import Path

    from .kaggle.wheels import build_wheels
    from .kaggle.prepare import publish_folder

    with tempfile.TemporaryDirectory(prefix="t2sql-wheel-") as tmp:
        names = build_wheels(tmp, with_deps=args.with_deps)
        if args.dataset:
            version = publish_folder(args.dataset, tmp, note="kaggle_t2sql wheel")
            print(f"published {', '.join(names)} as {args.dataset} version {version}")
        else:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            for name in names:
                (out / name).write_bytes((Path(tmp) / name).read_bytes())
            print(f"wrote {', '.join(names)} to {out}")
    return 0


def cmd_notebooks(args) -> int:
    """Regenerate every notebooks/*.ipynb from its jupytext .py source (or --check they match)."""
    from .data.pairs import out_of_sync, regenerate

    if args.check:
        stale = out_of_sync(args.folder)
        if stale:
            print(f"out of sync with their .py: {', '.join(stale)}; run: kaggle-t2sql notebooks", file=sys.stderr)
            return 1
        print("notebooks in sync")
        return 0
    for path in regenerate(args.folder):
        print(f"wrote {path}")
    return 0
