"""The project owner's dashboard of an export (terminal, Markdown, HTML). Plain logic, no dagster.
"""
