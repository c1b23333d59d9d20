"""`camlib` command line: a thin argparse layer over the library (zoo, train, predict, curate, download)."""
from __future__ import annotations

import argparse
import sys


def cmd_zoo(args) -> int:
    from .zoo import build_zoo
    path = build_zoo(args.out, profile=args.profile, seed=args.seed, difficulty=args.difficulty, workers=args.workers)
    print(f"zoo ready at {path}")
    return 0


def cmd_train(args) -> int:
    from .settings import SettingsError
    from .stages import setup
    from .stages.core import train_model
    overrides = {"layout": args.layout, "data_dir": args.data_dir or "", "run_dir": args.out, "seed": args.seed}
    for item in args.set or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise SettingsError(f"--set {item!r}: write NAME=VALUE, e.g. --set epochs=3")
        overrides[name] = value
    run = setup(profile=args.profile, **overrides)
    from .rundata import describe
    print("\n".join(describe(run.data)), flush=True)  # what was found (and set aside), before any training
    from .estimate import describe_budget
    print(describe_budget(run.data.train, run.data.classes, run.settings.train_config(augmented=not args.no_augment)),
          flush=True)
    if args.restart:
        import shutil
        shutil.rmtree(run.path / "models" / f"{'noaug' if args.no_augment else 'main'}-seed{run.settings.seed}", ignore_errors=True)
    config = run.settings.train_config(augmented=not args.no_augment)
    result = train_model(run, "noaug" if args.no_augment else "main", config)
    print(result.history.to_string(index=False))
    print(f"checkpoint: {result.checkpoint}")
    if run.data.test and not args.no_test:
        print(test_summary(run, result.model), flush=True)
    return 0


def test_summary(run, model) -> str:
    """The trained model on the run's labelled test images, scored as the report scores it (its TTA, image level)."""
    from .outcomes import outcome_from_predictions
    from .infer import predict_records
    data, tta = run.data, run.settings.tta_config("main")
    table = predict_records(model, data.test, data.classes, tta, progress=run.progress)
    scores = outcome_from_predictions("main", data.classes, {run.settings.seed: table}, root=data.root).scores()
    views = f"{tta.crops}{f' {tta.grid_size}x{tta.grid_size}' if tta.crops == 'grid' else ''} x {tta.transforms}"
    lines = [f"test: {scores.accuracy.text()} image-level accuracy on {scores.n_images} photos (TTA: {views}; "
             f"95% interval)"]
    lines += [f"  {camera}: {estimate.text(2)} ({data.camera_splits.get(camera, 'random')} split)"
              for camera, estimate in scores.per_class.items()]
    return "\n".join(lines)


def cmd_predict(args) -> int:
    from .datasets import Record
    from .infer import TTAConfig, predict_records, write_predictions
    from .io import list_images
    from .openset import UNKNOWN_CAMERA
    from .train import load_model
    if args.reject_below is not None and not 0 <= args.reject_below <= 1:
        raise ValueError(f"--reject-below must be a probability in [0, 1], got {args.reject_below:g}")
    model = load_model(args.checkpoint)
    classes = model.config.classes
    paths = list_images(args.paths)
    if not paths:
        print("camlib predict: error: no image files found in the given paths", file=sys.stderr)
        return 1
    tta = TTAConfig(crop=args.crop or _training_crop(args.checkpoint), crops=args.tta_crops, transforms=args.tta_transforms)
    records = [Record(str(p), None, split="test") for p in paths]
    table = predict_records(model, records, classes, tta, progress=not args.quiet)
    table = table.drop(columns=["camera", "manipulation", "crop_accuracy", "fname"]).rename(columns={"pred": "camera"})
    if args.reject_below is not None:  # open set: too unsure a photo may come from a camera the model never saw
        table.loc[(table.error == "") & (table.confidence < args.reject_below), "camera"] = UNKNOWN_CAMERA
    write_predictions(table, args.out)
    failed = table[table.error != ""]
    for row in failed.itertuples():
        print(f"{row.path}: {row.error}", file=sys.stderr)
    processed = len(table) - len(failed)
    print(f"{processed} of {len(table)} files predicted, {len(failed)} unreadable; table written to {args.out}")
    if args.reject_below is not None:
        print(f"{int((table.camera == UNKNOWN_CAMERA).sum())} of them below {args.reject_below:g}: camera '{UNKNOWN_CAMERA}'")
    if processed == 0:
        print("camlib predict: error: no file could be read", file=sys.stderr)
        return 1
    return 0


def _training_crop(checkpoint) -> int:
    from .train import load_checkpoint
    payload = load_checkpoint(checkpoint)
    return int(payload.get("crop") or payload["train_config"]["augment"]["crop"])


def cmd_curate(args) -> int:
    from .curate import curate_to_csv
    table = curate_to_csv(args.paths, args.out, min_quality=args.min_quality)
    counts = table.decision.value_counts().to_dict()
    print(f"{counts.get('accept', 0)} accepted, {counts.get('reject', 0)} rejected; table written to {args.out}")
    return 0


def cmd_download(args) -> int:
    from .download import download_kaggle
    path = download_kaggle(args.dest)
    print(f"Kaggle data ready at {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .datasets import LAYOUTS
    from .zoo import DEFAULT_DIFFICULTY, DIFFICULTIES, PROFILES
    profiles, layouts = list(PROFILES), ["zoo", *LAYOUTS]
    parser = argparse.ArgumentParser(prog="camlib", description="Forensic camera model identification from pixels.")
    commands = parser.add_subparsers(dest="command", required=True)

    zoo = commands.add_parser("zoo", help="build the simulated camera dataset (Kaggle layout)")
    zoo.add_argument("--out", required=True, help="output folder")
    zoo.add_argument("--profile", default="cpu", choices=profiles)
    zoo.add_argument("--seed", type=int, default=0)
    zoo.add_argument("--difficulty", default=DEFAULT_DIFFICULTY, choices=list(DIFFICULTIES))
    zoo.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    zoo.set_defaults(func=cmd_zoo)

    train = commands.add_parser("train", help="train the main model of a run (resumes when interrupted)")
    train.add_argument("--profile", default="cpu", choices=profiles)
    train.add_argument("--layout", default="zoo", choices=layouts)
    train.add_argument("--data-dir", default="", help="photos for the kaggle/dresden/folder layouts")
    train.add_argument("--out", default="runs/cli", help="run folder")
    train.add_argument("--seed", type=int, default=0, help="training seed")
    train.add_argument("--set", action="append", metavar="NAME=VALUE",
                       help="override a setting, e.g. --set epochs=3 --set arch=resnet34 (python -m camlib.settings lists them)")
    train.add_argument("--no-augment", action="store_true", help="train without D4/gamma/JPEG/rescale augmentation")
    train.add_argument("--restart", action="store_true", help="delete this model's checkpoints and train it anew")
    train.add_argument("--no-test", action="store_true", help="skip scoring the test images with the run's TTA at the end")
    train.set_defaults(func=cmd_train)

    predict = commands.add_parser("predict", help="camera of each image (files or folders), with TTA")
    predict.add_argument("paths", nargs="+", help="image files or folders")
    predict.add_argument("--checkpoint", required=True)
    predict.add_argument("--out", default="predictions.csv")
    predict.add_argument("--tta-crops", default="five", choices=["center", "five", "grid", "full"])
    predict.add_argument("--tta-transforms", default="flip", choices=["none", "flip", "d4"])
    predict.add_argument("--crop", type=int, default=0, help="TTA crop side (default: the training crop)")
    predict.add_argument("--reject-below", type=float, default=None, metavar="P",
                         help="name the camera 'unknown' when the top probability is below P (0 to 1)")
    predict.add_argument("--quiet", action="store_true")
    predict.set_defaults(func=cmd_predict)

    curate = commands.add_parser("curate", help="decide which external photos are trustworthy training images")
    curate.add_argument("paths", nargs="+")
    curate.add_argument("--out", default="curated.csv")
    curate.add_argument("--min-quality", type=int, default=95)
    curate.set_defaults(func=cmd_curate)

    download = commands.add_parser("download", help="fetch public data with the official tools")
    download.add_argument("source", choices=["kaggle"])
    download.add_argument("--dest", required=True)
    download.set_defaults(func=cmd_download)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("camlib: interrupted", file=sys.stderr)
        return 130
    except (ValueError, RuntimeError, OSError) as exc:  # our errors subclass these and carry one-line messages
        print(f"camlib {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
