"""Chapter 2: the main model, trained once per training seed with the run's recipe."""
from __future__ import annotations

from pydantic import BaseModel

from ..metrics import majority_chance
from ..train import load_model
from ..parallel import train_many
from .core import ModelSummary, Run, cached, model_job, summarise
from .inputs import stage


class TrainingResult(BaseModel):
    """The main model's replicates (one per training seed) and the augmentation they were trained with."""

    models: list[ModelSummary]
    augment: dict

    def checkpoints(self) -> dict[int, str]:
        return {m.seed: m.checkpoint for m in self.models}


def train_replicates(run: Run, role: str, label: str, configs: dict, records=None, images_per_class=None,
                     eval_records=None) -> list[ModelSummary]:
    """Train (or reuse) one model per {seed: config}, `train_processes` at once, and summarise each."""
    data = run.data
    records = data.train if records is None else records
    jobs = [model_job(run, role, config, records, eval_records) for config in configs.values()]
    results = train_many(jobs, run.settings.train_processes, progress=run.progress, desc=label)
    return [summarise(label, role, result, job.config, len(data.classes), len(records), images_per_class,
                      chance=majority_chance([r.camera for r in job.eval_records if r.camera in data.classes]))
            for result, job in zip(results, jobs)]


def main_configs(run: Run, augmented: bool = True) -> dict:
    """{seed: TrainConfig} of the main model (or of the same recipe without augmentation)."""
    return {seed: run.settings.train_config(augmented=augmented, seed=seed) for seed in run.settings.seeds}


# The main recipe: every setting a model of the run is trained with (the study models change one or two of them);
# average_epochs too, as the number of epochs' weights each model keeps for the averaging chapter.
RECIPE = ("arch", "weights", "seed", "replicates", "epochs", "batch_size", "crops_per_image", "lr", "schedule",
          "cycle_epochs", "warmup_fraction", "images_per_epoch", "draws_per_camera", "average_last", "center_fraction", "crop_mean",
          "balance_classes", "workers", "train_processes", "frame_cache_gib", "eval_every", "average_epochs")


@stage(fields=RECIPE, needs=("augmentation",), chapters=("02_training",))
def training(run: Run) -> TrainingResult:
    """Chapter 2's stage: the main model for every training seed (cached; resumes an interrupted training)."""
    configs = main_configs(run)
    return cached(run, "training", lambda: TrainingResult(
        models=train_replicates(run, "main", "main model", configs),
        augment=run.settings.augment_config().to_dict()), TrainingResult)


def main_models(run: Run, seeds=None) -> dict:
    """{seed: trained main model in eval mode} (trains what is missing)."""
    checkpoints = training(run).checkpoints()
    return {seed: load_model(checkpoints[seed], run.data.classes) for seed in (seeds or run.settings.seeds)}
