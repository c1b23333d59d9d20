"""The plateau check written by benchmarks/convergence.py is read back only for the recipe it measured."""
from camlib.convergence import Convergence, read_convergence, recipe_hash, write_convergence
from camlib.settings import resolve
from camlib.stats import Estimate


def _estimate(value: float) -> Estimate:
    return Estimate(value=value, low=value - 0.01, high=value + 0.01, n_images=10, n_seeds=2)


def test_convergence_is_read_for_its_own_recipe_only(tmp_path):
    settings = resolve("smoke", {"run_dir": str(tmp_path)})
    result = Convergence(factor=2, epochs=1, epochs_longer=2, seeds=[0, 1], gain=_estimate(0.01),
                         weighted_accuracy=_estimate(0.5), weighted_accuracy_longer=_estimate(0.51), plateaued=True,
                         recipe_hash=recipe_hash(settings))
    assert read_convergence(tmp_path, settings) is None  # not measured yet
    write_convergence(tmp_path, result)
    assert read_convergence(tmp_path, settings) == result
    assert read_convergence(tmp_path, resolve("smoke", {"run_dir": str(tmp_path), "epochs": 2})) is None  # another recipe
    # a study parameter does not change the main model, so the check still holds
    assert read_convergence(tmp_path, resolve("smoke", {"run_dir": str(tmp_path), "train_sizes": [3, 4]})) == result
