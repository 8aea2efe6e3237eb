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
    "AdaptiveSoftmax": "seqkit.blocks.adaptive",
    "LanguageModelHead": "seqkit.blocks.softmax",
    "LockedDropout": "seqkit.blocks.dropout",
    "TokenScores": "seqkit.blocks.softmax",
    "TextData": "seqkit.data",
    "read_text": "seqkit.data.text",
    "generate": "seqkit.sampling",
    "LanguageModelScorer": "seqkit.speech.fusion",
    "Lexicon": "seqkit.blocks.ctc",
    "adapt": "seqkit.speech.adapt",
    "self_train": "seqkit.speech.adapt",
    "choose_warp": "seqkit.speech.warp",
    "Ensemble": "seqkit.model",
    "save_ensemble": "seqkit.speech.ensemble",
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
    "CorpusData": "seqkit.data",
    "Utterance": "seqkit.data.corpus",
    "normalize": "seqkit.data.corpus",
    "read_splits": "seqkit.data.splits",
    "read_an4": "seqkit.data.an4",
    "read_manifest": "seqkit.data.manifest",
    "read_kaldi": "seqkit.data.kaldi",
    "DurationBatches": "seqkit.data.buckets",
    "CharTokenizer": "seqkit.data.tokenizers",
    "PieceTokenizer": "seqkit.data.tokenizers",
    "tokenizer_from_data": "seqkit.data.tokenizers",
    "unit_texts": "seqkit.data.tokenizers",
    "SeqkitError": "seqkit.errors",
    "build_model": "seqkit.model",
    "SeqModel": "seqkit.model",
    "ctc_plot": "seqkit.plots",
    "confusion_plot": "seqkit.plots",
    "Classify": "seqkit.blocks.classify",
    "WordTokenizer": "seqkit.data.tokenizers",
    "forecast_plot": "seqkit.plots",
    "loss_curves": "seqkit.plots",
    "run_recipe": "seqkit.recipes",
    "Sequential": "seqkit.sequential",
    "History": "seqkit.sequential",
    "Layer": "seqkit.sequential",
    "create_run_dir": "seqkit.runs",
    "write_json": "seqkit.runs",
    "Task": "seqkit.task",
    "history": "seqkit.training",
    "make_trainer": "seqkit.training",
    "run_test": "seqkit.training",
    "evaluate": "seqkit.evaluation",
    "forecast_csv": "seqkit.forecasting",
    "transcribe": "seqkit.speech.transcribe",
    "score_passes": "seqkit.speech.scoring",
    "transcripts_plot": "seqkit.speech.scoring",
    "head_name": "seqkit.model",
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

__all__ = sorted(_WHERE)
