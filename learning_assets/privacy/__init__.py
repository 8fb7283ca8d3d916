"""What may leave the machine: the closed vocabularies, the allow-list of words, the anonymization rules
and their application, and the invariant check.

Plain logic, no dagster. `wordlists` builds the word lists from maintained packages; `vocabulary` holds the
framework's own names; `rules` are what a table spec gives its columns and `anonymize` applies them, with
`scrub` for free text and `allowlist` as its last step; `leaks` is the independent check of an export,
which shares none of the scrubber's code.
"""
