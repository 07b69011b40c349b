"""Isolated execution of candidate scripts, and the checkers that judge what they left behind."""
