"""Speech-only inference procedures: transcription, frequency warping, beam search with a lexicon
and a language model, unsupervised speaker adaptation, ensembles."""
