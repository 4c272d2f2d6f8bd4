"""The ``grader`` command: a thin layer over plain functions, one subcommand per pipeline stage."""

from __future__ import annotations

import sys

import click

from grader import __version__
from grader.config import ConfigError
from grader.datasets import DatasetNotFoundError
from grader.errors import GraderError

USER_ERRORS = (GraderError, ConfigError, DatasetNotFoundError)


class FriendlyGroup(click.Group):
    """Turn errors a user can fix into one line on stderr and exit status 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except USER_ERRORS as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=FriendlyGroup)
@click.version_option(__version__, prog_name="grader")
def main() -> None:
    """Release, self-check and autograde Keras course assignments."""


@main.group()
def data() -> None:
    """The course datasets."""


@data.command("status")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Look here first (else $GRADER_DATA_DIR).")
def data_status(data_dir: str | None) -> None:
    """Print where each dataset would be loaded from, without loading it."""
    from grader.datasets import DATASET_NAMES, probe_sources

    for name in DATASET_NAMES:
        found = next((p for p in probe_sources(name, data_dir) if p.found), None)
        where = f"{found.place}: {found.path}" if found else "not found locally (Keras download would be tried)"
        click.echo(f"{name:<14} {where}")


@main.group()
def reference() -> None:
    """The reference solutions the thresholds come from."""


@reference.command("train")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Look here first (else $GRADER_DATA_DIR).")
def reference_train(data_dir: str | None) -> None:
    """Train every reference solution (fixed seeds) and write reference_solutions/metrics.json."""
    from grader.instructor import require_checkout

    require_checkout()
    from reference_solutions.train import train_all, write_metrics

    path = write_metrics(train_all(data_dir, log=click.echo))
    click.echo(f"wrote {path}")


@reference.command("specs")
def reference_specs() -> None:
    """Derive the architecture specs from the reference code into grader/specs/practica3.json."""
    from grader.instructor import require_checkout
    from grader.records import write_json_atomic
    from grader.specs import spec_path

    require_checkout()
    from reference_solutions.specs import architecture_specs

    click.echo(f"wrote {write_json_atomic(spec_path('practica3'), architecture_specs())}")
