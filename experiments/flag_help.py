"""`--help` of the entry points: the flags a user of the entry point needs, under headings, each with its default.

absl's `--help` lists the flags that the main module defined, so `experiments.train`, whose flags are defined in
`common/training/flags.py` and by the model families, listed one (`--export`). An entry point calls
`flag_help.run(main, groups)` instead of `app.run(main)`: `--help`, `-?` and `--helpshort` print its module
docstring and `groups` (the flags its module defines that no group names follow under "other flags", or under
"flags" where it has no groups); everything else, `--helpfull` (absl's full listing) included, is absl's parsing.
A `UsageError` raised by `main` prints its message and where to find the flags.
"""

import sys

from absl import app, flags

HELP_ARGUMENTS = ("--help", "-help", "-?", "--helpshort", "-helpshort")
OTHER_GROUP = "other flags"


def _format_flag(flag, default):
    """absl's layout: the flag and its help, then its default (`default`, else the flag's own; none where the help
    says what happens without it)."""
    name = f"--[no]{flag.name}" if flag.boolean else f"--{flag.name}"
    text = flags.text_wrap(f"{name}: {flag.help}", indent="    ", firstline_indent="  ")
    default = default or flag.default_as_str
    if default is None and "default" in flag.help.lower():
        return text
    return text + "\n" + flags.text_wrap(f"(default: {default or 'none'})", indent="    ")


def help_text(flag_values, groups, defaults=None, doc=None):
    """The text of `--help`.

    Args:
        flag_values: the `FlagValues` holding the flags.
        groups: `[(heading, [flag name, ...])]`; names not defined are left out (a family that is not installed).
        defaults: flag name → the text to show as its default (a default that the flag cannot state, e.g. one the
            model decides), or `None`.
        doc: the text above the flags (default: the main module's docstring).
    """
    defaults = defaults or {}
    grouped = {name for _, names in groups for name in names}
    main_flags = sorted(flag.name for flag in flag_values.get_key_flags_for_module("__main__"))
    others = [name for name in main_flags if name not in grouped]
    sections = [(heading, names) for heading, names in groups]
    if others:
        sections.append((OTHER_GROUP if groups else "flags", others))
    if doc is None:
        doc = sys.modules["__main__"].__doc__ or ""
    text = doc.rstrip() + "\n"
    for heading, names in sections:
        listed = [name for name in names if name in flag_values]
        if listed:
            text += f"\n{heading}:\n"
            text += "\n".join(_format_flag(flag_values[name], defaults.get(name)) for name in listed) + "\n"
    return text + "\nTry --helpfull to get a list of all flags (absl's and TensorFlow's included).\n"


def _wants_help(argv):
    arguments = argv[1 : argv.index("--")] if "--" in argv else argv[1:]
    return any(argument in HELP_ARGUMENTS for argument in arguments)


def run(main, groups=(), defaults=None):
    """`absl.app.run(main)` with this module's `--help`.

    Args:
        main: the entry point's `main(argv)`.
        groups: as `help_text`.
        defaults: `() -> {flag name: text}`, called only for `--help` (as `help_text`'s `defaults`).
    """

    def parse(argv):
        if _wants_help(argv):
            sys.stdout.write(help_text(flags.FLAGS, groups, defaults() if defaults else None))
            sys.exit(0)
        return app.parse_flags_with_usage(argv)

    def main_with_usage(argv):
        try:
            return main(argv)
        except app.UsageError as error:
            sys.stderr.write(f"error: {error}\nPass --help to see this program's flags.\n")
            sys.exit(error.exitcode)

    app.run(main_with_usage, flags_parser=parse)
