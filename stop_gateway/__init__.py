"""stop_gateway"""
