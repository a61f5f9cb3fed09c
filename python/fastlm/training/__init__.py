"""Tokenizer trainers, one module per algorithm (bpe, wordpiece, unigram)."""
