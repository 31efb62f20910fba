"""Arguments the top-level API renamed, still accepted under their old names for a while.

The API names a table by what it holds (``runs``, ``table``, ``pairs``, ``trajectory``), never by
its type (``df``, ``frame``); a notebook written against an older name keeps working and is told
the new one once per call site (a ScalefitWarning that is a FutureWarning, which notebooks show).
"""
import functools
import warnings

from scalefit.errors import RenamedArgumentWarning


def renamed_arguments(**old_to_new: str):
    """Decorator: accept each old keyword as its new name, with a warning naming both
    (``RenamedArgumentWarning``: a ScalefitWarning and a FutureWarning).

    Passing the old and the new name together is a TypeError, as passing one argument twice is."""
    def wrap(func):
        @functools.wraps(func)
        def call(*args, **kwargs):
            for old, new in old_to_new.items():
                if old not in kwargs:
                    continue
                if new in kwargs:
                    raise TypeError(f"{func.__name__}() got both '{old}' and its new name '{new}'; "
                                    f"pass only {new}=")
                warnings.warn(f"{func.__name__}(): the argument '{old}' is now called '{new}'; "
                              f"pass {new}= (the old name will stop working)",
                              RenamedArgumentWarning, stacklevel=2)
                kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)
        call.renamed_arguments = dict(old_to_new)
        return call
    return wrap
