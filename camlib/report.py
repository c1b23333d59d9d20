"""The report notebook's helper: prose from one template filled with the run's metrics, numbered figures
with captions, formatted tables."""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from . import tables
from .settings import Settings
from .summary import Metrics
from .zoo.cameras import camera_label

TEMPLATE = Path(__file__).with_name("templates") / "report.md.j2"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE.parent), trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined, autoescape=False)
    env.filters["fmt"] = tables.fmt
    env.filters["pts"] = tables.points
    env.filters["pct"] = lambda value: "–" if value is None else f"{100 * value:.1f}%"
    env.filters["num"] = lambda value, digits=3: "–" if value is None else f"{value:.{digits}f}"
    env.filters["camera"] = camera_label  # zoo class names as a reader sees them; real camera names unchanged
    return env


@dataclass
class Report:
    """The sections, figures and tables of the report of one run."""

    metrics: Metrics
    settings: Settings
    run_dir: Path
    appendix_dir: str = "appendix"
    figure_count: int = 0
    table_count: int = 0
    _template: object = field(default=None, repr=False)

    @property
    def template(self):
        if self._template is None:
            self._template = _environment().get_template(TEMPLATE.name).make_module(
                {"m": self.metrics, "s": self.settings, "appendix_dir": self.appendix_dir})
        return self._template

    def markdown(self, section: str, **context) -> str:
        """The template's macro `section`, rendered with the run's metrics and settings."""
        return str(getattr(self.template, section)(**context)).strip()

    def text(self, section: str, **context):
        _display_markdown(self.markdown(section, **context))

    def figure(self, name: str, caption: str | None = None, alt: str | None = None):
        """Show run/figures/<name>.png, numbered, with its caption (the template's `caption_<name>` by default)."""
        path = self.run_dir / "figures" / f"{name}.png"
        if not path.exists():
            _display_markdown(f"*The figure `{name}` is missing: its chapter did not run.*")
            return
        self.figure_count += 1
        if caption is None:
            try:
                caption = self.markdown(f"caption_{name}")
            except jinja2.UndefinedError:  # a figure left by an earlier run whose stage this run's settings did not make
                caption = f"`{name}`, from an earlier run of its chapter with other settings: not part of this report's numbers."
        encoded = base64.b64encode(path.read_bytes()).decode()
        alt_text = (alt or caption.split(". ")[0]).replace('"', "'")
        from IPython.display import HTML, display
        display(HTML(f'<figure style="margin: 1em 0"><img src="data:image/png;base64,{encoded}" alt="{alt_text}" '
                     f'style="max-width: 100%"/><figcaption><b>Figure {self.figure_count}.</b> {_inline(caption)}'
                     f"</figcaption></figure>"))

    def table(self, frame, caption: str):
        """Show a formatted table, numbered, with its caption."""
        from IPython.display import display
        self.table_count += 1
        display(tables.styled(frame, f"Table {self.table_count}. {caption}"))


def _inline(markdown_text: str) -> str:
    """Minimal markdown for captions: **bold** and `code`."""
    import re
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", markdown_text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def _display_markdown(text: str):
    from IPython.display import Markdown, display
    display(Markdown(text))


def open_report(namespace: dict) -> Report:
    """The report of the run named by the notebook's parameters: metrics.json written from the stored stage
    results (nothing is trained or scored here), then the sections to display."""
    from .stages import setup
    from .summary import write_metrics
    values = dict(namespace)
    appendix_dir = values.pop("appendix_dir", "appendix")
    run = setup(values, progress=False, read_only=True)
    metrics = write_metrics(run)
    return Report(metrics, run.settings, run.path, appendix_dir)


def executed_notebooks(run_dir) -> list[str]:
    return sorted(p.stem for p in (Path(run_dir) / "notebooks").glob("*.ipynb") if not p.stem.startswith("99"))


def settings_table(metrics: Metrics):
    """Every parameter of the run, as metrics.json records it (paths by name, never absolute)."""
    import pandas as pd
    return pd.DataFrame({"parameter": list(metrics.settings), "value": [str(v) for v in metrics.settings.values()]})


def seconds_table(metrics: Metrics):
    import pandas as pd
    rows = [{"notebook": name, "minutes": f"{seconds / 60:.1f}"} for name, seconds in metrics.notebook_seconds.items()]
    if rows:
        rows.append({"notebook": "total", "minutes": f"{sum(metrics.notebook_seconds.values()) / 60:.1f}"})
    return pd.DataFrame(rows or [{"notebook": "(not run through run_all.sh)", "minutes": "–"}])


QUESTION_FIGURES = {"manipulation_head": ["manipulation_head"], "averaging": ["averaging"], "balanced": ["balanced"],
                    "pseudo_labels": ["pseudo_labels"], "saliency": ["saliency", "flat_textured"], "metric": ["metric"],
                    "open_set": ["open_set"]}
