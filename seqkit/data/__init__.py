"""Data modules: a config's ``data`` section holds their constructor arguments; a checkpoint
records which one (``data_module``) so that ``seqkit eval`` rebuilds it."""

from seqkit.data.corpusdata import CorpusData
from seqkit.data.root import data_root, locate
from seqkit.data.series import SeriesData
from seqkit.data.speech import SpeechData
from seqkit.data.text import TextData

DATAMODULES = {"CorpusData": CorpusData, "SeriesData": SeriesData, "SpeechData": SpeechData, "TextData": TextData}


__all__ = ["DATAMODULES", "CorpusData", "SeriesData", "SpeechData", "TextData", "data_root", "locate"]
