"""seqkit: CNN+RNN sequence models for speech, text and time series, composed from blocks.

Everything public is re-exported here; import from ``seqkit`` only.
"""

import importlib
import importlib.util

# Public names and the modules that define them, imported on first use: `import seqkit` and the
# command line's --help stay fast, torch and Lightning load only when something needs them.
_WHERE = {
    "BACKENDS": "seqkit.blocks",
    "build": "seqkit.blocks",
    "FRONTENDS": "seqkit.blocks",
    "HEADS": "seqkit.blocks",
    "GRU": "seqkit.blocks.backends",
    "LSTM": "seqkit.blocks.backends",
    "RNN": "seqkit.blocks.backends",
    "SegRNN": "seqkit.blocks.segrnn",
    "ConvSpectrogram": "seqkit.blocks.frontends",
    "Segmenter": "seqkit.blocks.frontends",
    "Embedding": "seqkit.blocks.frontends",
    "Softmax": "seqkit.blocks.softmax",
    "TokenScores": "seqkit.blocks.softmax",
    "TextData": "seqkit.data",
    "read_text": "seqkit.data.text",
    "generate": "seqkit.sampling",
    "LanguageModelScorer": "seqkit.fusion",
    "Lexicon": "seqkit.blocks.ctc",
    "adapt": "seqkit.adapt",
    "self_train": "seqkit.adapt",
    "choose_warp": "seqkit.predict",
    "Ensemble": "seqkit.ensemble",
    "save_ensemble": "seqkit.ensemble",
    "warp_matrix": "seqkit.blocks.frontends",
    "CTC": "seqkit.blocks.ctc",
    "Forecast": "seqkit.blocks.forecast",
    "load_model": "seqkit.checkpoint",
    "export_model": "seqkit.export",
    "load_config": "seqkit.config",
    "to_dict": "seqkit.config",
    "data_root": "seqkit.data",
    "DATAMODULES": "seqkit.data",
    "locate": "seqkit.data",
    "SeriesData": "seqkit.data",
    "SpeechData": "seqkit.data",
    "CharTokenizer": "seqkit.data.text",
    "PieceTokenizer": "seqkit.data.text",
    "tokenizer_from_data": "seqkit.data.text",
    "unit_texts": "seqkit.data.text",
    "SeqkitError": "seqkit.errors",
    "build_model": "seqkit.model",
    "SeqModel": "seqkit.model",
    "ctc_plot": "seqkit.plots",
    "confusion_plot": "seqkit.plots",
    "Classify": "seqkit.blocks.classify",
    "WordTokenizer": "seqkit.data.text",
    "forecast_plot": "seqkit.plots",
    "loss_curves": "seqkit.plots",
    "run_recipe": "seqkit.recipes",
    "Sequential": "seqkit.sequential",
    "History": "seqkit.sequential",
    "load": "seqkit.sequential",
    "create_run_dir": "seqkit.runs",
    "write_json": "seqkit.runs",
    "Task": "seqkit.task",
    "history": "seqkit.training",
    "make_trainer": "seqkit.training",
}


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    if importlib.util.find_spec(f"seqkit.{name}") is not None:  # a submodule: seqkit.data, ...
        return importlib.import_module(f"seqkit.{name}")
    raise AttributeError(f"module 'seqkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])


__version__ = "0.1.0"

__all__ = [
    "adapt", "BACKENDS", "build", "build_model", "CharTokenizer", "choose_warp", "Classify", "confusion_plot",
    "ConvSpectrogram", "create_run_dir", "CTC", "ctc_plot", "data_root", "DATAMODULES", "Embedding", "Ensemble",
    "export_model", "Forecast", "forecast_plot", "FRONTENDS", "generate", "GRU", "HEADS", "History", "history",
    "LanguageModelScorer", "Lexicon", "load", "load_config", "load_model", "locate", "loss_curves", "LSTM",
    "make_trainer", "PieceTokenizer", "read_text", "RNN", "run_recipe", "save_ensemble", "Segmenter", "SegRNN",
    "self_train", "SeqkitError", "SeqModel", "Sequential", "SeriesData", "Softmax", "SpeechData", "Task",
    "TextData", "to_dict", "tokenizer_from_data", "TokenScores", "unit_texts", "warp_matrix", "WordTokenizer",
    "write_json",
]
