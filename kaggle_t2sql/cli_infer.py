"""The commands that run the model on questions: eval, sample, prompts, ask, serve, export."""

from __future__ import annotations

from .cli_common import config_of, inference_config_of, max_new_tokens_of, print_json


def cmd_eval(args) -> int:
    """Generate with the 4-bit base (+ adapter), execute read-only, score; write the report files."""
    from .eval.evaluate import EvalSettings, markdown_report, run_eval

    cfg = inference_config_of(args)
    settings = EvalSettings(data=args.data, data_path=args.data_path or "", split=args.split, limit=args.limit,
                            samples=args.samples, temperature=args.temperature, vote=args.vote,
                            fix_rounds=args.fix_rounds, batch_size=args.batch_size,
                            max_new_tokens=max_new_tokens_of(args, cfg),
                            semantics=args.semantics, timeout=args.timeout, workers=args.workers)
    report = run_eval(cfg, settings, args.adapter, args.out_dir, progress=not args.no_progress)
    print(markdown_report(report))
    print(f"\nreport: {args.out_dir}/report.json, report.md, report.png, examples.jsonl")
    return 0


def cmd_sample(args) -> int:
    """Sample candidates per question, judge them by execution; write samples/rft/pairs .jsonl (resumable)."""
    import tempfile

    from .config_checks import STORE_RUN
    from .config_presets import default_max_new_tokens
    from .errors import ConfigError
    from .eval.sampling import SampleSettings, run_sample
    from .train.init_adapter import pull_store_run_adapter

    cfg = config_of(args)
    settings = SampleSettings(data=args.data, data_path=args.data_path or "", split=args.split, limit=args.limit,
                              samples=args.samples, temperature=args.temperature,
                              max_new_tokens=args.max_new_tokens or default_max_new_tokens(cfg),
                              seed=args.seed, timeout=args.timeout, workers=args.workers, save_every=args.save_every,
                              gold_as_chosen=args.gold_as_chosen)
    store = None
    if args.store:
        from .kaggle.store_uri import open_store

        store = open_store(args.store)
    with tempfile.TemporaryDirectory(prefix="t2sql-sample-adapter-") as tmp:
        adapter = args.adapter
        if adapter and adapter.startswith(STORE_RUN):  # the final adapter of a finished run of the store
            if not args.store:
                raise ConfigError(f"--adapter {adapter} names a run of a checkpoint store: pass --store URI")
            adapter, where = pull_store_run_adapter(args.store, adapter, tmp, "--adapter")
            print(f"sampling with {where}", flush=True)
        report = run_sample(cfg, settings, adapter, args.out, store=store, name=args.run_name)
    if args.json:
        print_json(report)
    elif not report["questions"]:
        print(f"no question sampled yet; wrote {args.out}/report.json")
    else:
        k = f"pass@{settings.samples}"
        print(f"{report['questions']} questions, {report['candidates']} candidates: {report['share_with_correct']:.3f} with a "
              f"correct one, pass@1 {report['pass@1']:.3f}, {k} {report[k]:.3f}, mean reward {report['mean_reward']:.3f}, "
              f"{report['candidates_per_second_this_session']:.2f} candidates/s this session")
        print(f"wrote {args.out}/samples.jsonl, rft.jsonl, pairs.jsonl, report.json")
    return 0


def cmd_prompts(args) -> int:
    """Write the exact prompt of every question of a dataset (JSONL: db_id, question, prompt, schema, ...)."""
    from .eval.evaluate import EvalSettings, load_eval_examples
    from .infer.prompt_file import write_prompts
    from .train.model import load_tokenizer

    cfg = inference_config_of(args)
    examples = load_eval_examples(EvalSettings(data=args.data, data_path=args.data_path or "", split=args.split,
                                               limit=args.limit))
    n = write_prompts(examples, load_tokenizer(cfg.model), cfg.data, args.out, progress=not args.no_progress)
    print(f"wrote {n} prompts to {args.out} (value retrieval {'on' if cfg.data.value_retrieval else 'off'})")
    return 0


def ask_settings_of(args, cfg):
    from .infer.ask import AskSettings

    settings = AskSettings(samples=args.samples, temperature=args.temperature, vote=args.vote,
                           fix_rounds=args.fix_rounds, max_new_tokens=max_new_tokens_of(args, cfg), timeout=args.timeout,
                           max_rows=args.max_rows, data=cfg.data)  # validates: before a model is loaded
    return settings


def cmd_ask(args) -> int:
    """Answer one question about a SQLite file: SQL, the first rows of its result, timings."""
    from .infer.ask import ask, check_database, check_question
    from .infer.engine import load_for_inference

    cfg = inference_config_of(args)
    settings = ask_settings_of(args, cfg)
    check_question(args.question), check_database(args.db)  # fail before loading a model
    model, tokenizer = load_for_inference(cfg, args.adapter)
    answer = ask(model, tokenizer, args.db, args.question, settings, evidence=args.evidence)
    if args.json:
        print_json(answer.to_dict())
        return 0
    print(f"SQL:\n{answer.sql or '(the model wrote no SQL block)'}\n")
    if answer.hit_token_cap:
        print(f"note: the answer was cut at --max-new-tokens {settings.max_new_tokens} before it finished\n")
    print(answer.table())
    t = answer.timings
    print(f"\ntime: {t['total']:.2f} s (prompt {t['prompt']:.2f}, generation {t['generation']:.2f}, "
          f"execution {t['execution']:.3f}, correction {t['correction']:.2f}; {answer.fix_rounds} fix round(s))")
    return 0


def cmd_serve(args) -> int:
    """Load the model once and answer POST /ask over HTTP."""
    from .infer.engine import load_for_inference
    from .errors import ConfigError
    from .infer.serve import ServeSettings, create_app, database_map, require_serve_extra, serve

    require_serve_extra()  # before loading a model
    cfg = inference_config_of(args)
    settings = ask_settings_of(args, cfg)
    given = {k: getattr(args, k) for k in ("sql_lanes", "max_pending", "request_timeout") if getattr(args, k) is not None}
    limits = ServeSettings(**given)  # validates: before a model is loaded
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: use 0-65535")
    databases = database_map(args.db, args.db_dir)
    model, tokenizer = load_for_inference(cfg, args.adapter)
    print(f"serving {len(databases)} database(s) ({', '.join(sorted(databases))}) on http://{args.host}:{args.port}")
    serve(create_app(model, tokenizer, databases, settings, serve_settings=limits), args.host, args.port)
    return 0


def cmd_export(args) -> int:
    """Merge the adapter into the 16-bit base and write a transformers/vLLM-loadable folder."""
    from pathlib import Path

    from .infer.export import describe, export_merged

    out = export_merged(config_of(args), args.adapter, args.out, dtype=args.dtype, max_shard_size=args.max_shard_size)
    print(describe(Path(out)))
    return 0
