"""Data modules by task name: a config's ``data`` section holds their constructor arguments."""

from seqkit.data.audio import SpeechData
from seqkit.data.root import data_root, locate
from seqkit.data.series import SeriesData
from seqkit.data.text import TextData

DATAMODULES = {
    "ltsf": SeriesData,
    "asr": SpeechData,
    "lm": TextData,
}

__all__ = ["DATAMODULES", "SeriesData", "SpeechData", "TextData", "data_root", "locate"]
