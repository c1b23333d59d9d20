"""Claims: whose claim each row is, which TTA scores each side, and rows the run's scale cannot reach."""
import numpy as np

from camlib import claims as claims_module
from camlib.claims import Claim, crop_claim, tta_text, train_size_claims
from camlib.outcomes import Outcome
from camlib.stages.crop_size import CropSizePoint, CropSizeResult
from camlib.stages.study_models import StudyResult, StudyVariant
from camlib.tables import claims_table, own_claims_table

CLASSES = ["a", "b"]


def _outcome(accuracy: float, n: int = 200, seed: int = 0) -> Outcome:
    rng = np.random.default_rng(seed)
    cameras = [CLASSES[i % 2] for i in range(n)]
    right = rng.random(n) < accuracy
    predictions = [[i % 2 if ok else 1 - i % 2 for i, ok in enumerate(right)]]
    return Outcome(label="m", classes=CLASSES, seeds=[0], images=[f"{i}.jpg" for i in range(n)], cameras=cameras,
                   manipulations=["unalt"] * n, predictions=predictions)


def _sizes(per_class: list[int]) -> StudyResult:
    variants = [StudyVariant(label=f"{n}", arch="x", weights="imagenet", images_per_class=n, is_main=False, models=[],
                             outcome=_outcome(0.6 + 0.01 * k, seed=k)) for k, n in enumerate(per_class)]
    return StudyResult(study_epochs=1, seeds=[0], tta_config={"crop": 96, "crops": "five", "transforms": "none"},
                       variants=variants)


def test_saturation_far_below_25k_images_is_not_testable_at_this_scale():
    growth, saturation = train_size_claims(_sizes([10, 20, 40]))
    assert saturation.verdict == "not testable" and "not testable at this scale" in saturation.note
    assert "25,000" in saturation.note and "80" in saturation.note  # 40 per camera x 2 cameras
    assert saturation.difference is not None  # the measured difference stays in the row
    assert growth.verdict != "not testable"  # growth is a claim about this run's own range
    reached = train_size_claims(_sizes([10, 13_000, 20_000]))[1]  # 26k and 40k images: the claim's scale
    assert reached.verdict != "not testable"
    assert saturation.tta == "both sides: the study TTA, five crops of 96 px"


def _crops(train_crop: int) -> CropSizeResult:
    return CropSizeResult(train_crop=train_crop, seeds=[0], points=[
        CropSizePoint(crop=c, outcome=_outcome(a, seed=c)) for c, a in ((64, 0.7), (128, 0.95), (256, 0.97), (512, 0.98))])


def test_crop_size_claim_needs_the_480_px_training_crop():
    small = crop_claim(_crops(96), [])
    assert small.verdict == "not testable" and "96 px" in small.note and "480" in small.note
    assert "0.52" in small.note  # 250 of 480, relative to the training crop
    seeds = crop_claim(_crops(480), [])
    assert seeds.verdict in ("supported", "contradicted", "inconclusive")


def test_two_tables_and_a_headline_of_the_seeds_claims_only():
    seed = Claim(topic="TTA", original="o", test="t", verdict="supported", tta="both sides: x")
    own = Claim(topic="baseline", source="camlib", original="mine", test="t", verdict="contradicted")
    assert seed.source == "seed"
    assert list(claims_table([seed, own]).topic) == ["TTA"]
    assert list(own_claims_table([seed, own], []).topic) == ["baseline"]
    assert claims_table([seed]).iloc[0]["scored with"] == "both sides: x"


def test_tta_in_words():
    assert tta_text({"crop": 96, "crops": "grid", "grid_size": 4, "transforms": "flip"}) == "grid 4x4 crops of 96 px x flip"
    assert tta_text({"crop": 64, "crops": "center", "transforms": "none"}) == "one centre crop of 64 px"
    assert claims_module.SATURATION_IMAGES == 25_000 and claims_module.CLAIMED_TRAIN_CROP == 480
