"""What may leave the machine: the closed vocabularies, the allow-list of words, and the invariant check.

Plain logic, no dagster. `wordlists` builds the word lists from maintained packages; `vocabulary` holds the
framework's own names; `allowlist` is what the scrubber keeps; `invariant` is the independent check of an
export, which shares none of the scrubber's code.
"""
