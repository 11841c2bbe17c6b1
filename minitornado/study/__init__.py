"""The study tools: they look at the serving modules from outside, and none of those imports them.

Ours alone: Tornado has no study tools.

    python -m minitornado.study.tour       the study path, step by step, our code beside Tornado's
    python -m minitornado.study.compare    the same requests to minitornado and to Tornado
    demo_app.py --trace                    each step of the path logged as it happens

``tour`` holds ``STUDY_PATH``, the one table of the path; ``trace`` and the call-order test in
tests/test_tour.py read that same table.
"""
