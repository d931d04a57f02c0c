"""Grading for the AlexNet lab: render -> release -> collect -> prepare -> run -> check -> record.

Each step lives in the module named after it. Runners return results; only the coordinator
(`grade.py`) writes the gradebook and the files a TA reads.
"""
