"""seqkit: CNN+RNN sequence models for speech, text and time series, composed from blocks.

Everything public is re-exported here; import from ``seqkit`` only.
"""

from seqkit.blocks import BACKENDS, FRONTENDS, HEADS, build
from seqkit.blocks.backends import GRU, LSTM, RNN, SegRNN
from seqkit.blocks.frontends import ConvSpectrogram, Segmenter
from seqkit.blocks.heads import CTC, Forecast
from seqkit.checkpoint import load_model
from seqkit.config import load_config, to_dict
from seqkit.data import DATAMODULES, SeriesData, SpeechData, data_root, locate
from seqkit.data.text import CharTokenizer, PieceTokenizer, tokenizer_from_data
from seqkit.errors import SeqkitError
from seqkit.model import SeqModel, build_model
from seqkit.plots import ctc_plot, forecast_plot, loss_curves
from seqkit.recipes import run_recipe
from seqkit.runs import create_run_dir, write_json
from seqkit.task import Task
from seqkit.training import history, make_trainer

__version__ = "0.1.0"

__all__ = [
    "BACKENDS", "build", "build_model", "CharTokenizer", "ConvSpectrogram", "create_run_dir", "CTC",
    "ctc_plot", "data_root", "DATAMODULES", "Forecast", "forecast_plot", "FRONTENDS", "GRU", "HEADS",
    "history", "load_config", "load_model", "locate", "loss_curves", "LSTM", "make_trainer", "PieceTokenizer",
    "RNN", "run_recipe", "Segmenter", "SegRNN", "SeqkitError", "SeqModel", "SeriesData", "SpeechData", "Task",
    "to_dict", "tokenizer_from_data", "write_json",
]
