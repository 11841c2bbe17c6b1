"""The study tools: they look at the serving modules from outside, and none of those imports them.

Ours alone: Tornado has no study tools.

    python -m minitornado.study.tour       the study path, step by step, our code beside Tornado's
    python -m minitornado.study.compare    the same requests to minitornado and to Tornado
    demo_app.py --trace                    each step of the path logged as it happens

``tour`` holds ``STUDY_PATH``, the one table of the path. ``trace`` reads that same table: it
watches the definitions the steps name with a profile hook, installed only while it is on,
and logs each step's line with the values of the run. ``_refs`` turns the table's references
into the code objects that hook compares frames with; the call-order test in
tests/test_tour.py uses it the same way.
"""
