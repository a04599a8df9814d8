"""UnIVAL (arXiv 2307.16184) building blocks: location tokens, task prompts and the TSV data formats."""
