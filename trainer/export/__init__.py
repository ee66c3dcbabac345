"""The trainer's export room: a training run into the user's workbook (run.py), drawn as the MNIST sheet
(mnist.py, with what the network learned: learned.py) and a row of the Runs sheet (runs.py), from the run's
log.json (log.py) and results.json (trainer/results.py)."""

from .log import load_log
from .mnist import MNIST_SHEET
from .run import export_run
from .runs import RUNS_SHEET

__all__ = ["MNIST_SHEET", "RUNS_SHEET", "export_run", "load_log"]
