"""The model core, modality by modality into one shared token space and back out.

    layers/        attention, MLP, norms, positional embeddings, patch/tubelet embedding (modality-agnostic)
    encoders/      one file per encoder: its config, its module, its registration
    heads/         classify, segment, retrieve, reconstruct (MAE decoder), the text decoder
    trunk.py       the shared transformer; knows nothing about modalities
    vectorizer.py  tokens -> one vector per sample
    masking.py     pure functions for masked pretraining
    generation.py  greedy and beam search over a decoder's KV cache
    tokenizer.py   the text tokenizer a run saves beside its weights
    model.py       OmniModel: encoders -> shared token space -> trunk -> vectorizer -> heads

Nothing here reads files of a dataset, runs a training loop or knows about run folders.
"""
