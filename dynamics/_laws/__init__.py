"""_laws"""
