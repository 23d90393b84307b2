"""Audio and features: decoding and checking audio, the corpus and its speakers, dataset roots, data preparation, speaker splits, silence, log-mel/MFCC features and training segments."""
