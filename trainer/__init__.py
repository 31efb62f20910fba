"""The suite trainer: corpus, tokenizer and training of a Pythia-recipe mini suite."""
