"""_mixture"""
