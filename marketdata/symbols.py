"""Registry of the 20 supported tokens (pure module, no Django).

Each token names its sector, its CoinGecko id, its Binance spot pair (``None`` where
Binance spot does not list it) and the DefiLlama protocol slug behind it, if any.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Token:
    symbol: str
    name: str
    sector: str
    coingecko_id: str
    binance_pair: str | None
    defillama_slug: str | None = None


TOKENS: tuple[Token, ...] = (
    Token("BTC", "Bitcoin", "majors", "bitcoin", "BTCUSDT"),
    Token("ETH", "Ethereum", "majors", "ethereum", "ETHUSDT"),
    Token("SOL", "Solana", "majors", "solana", "SOLUSDT"),
    Token("AVAX", "Avalanche", "majors", "avalanche-2", "AVAXUSDT"),
    Token("SNX", "Synthetix", "derivatives", "havven", "SNXUSDT", "synthetix"),
    Token("PERP", "Perpetual Protocol", "derivatives", "perpetual-protocol", "PERPUSDT", "perpetual-protocol"),
    Token("GMX", "GMX", "derivatives", "gmx", "GMXUSDT", "gmx"),
    Token("LYRA", "Lyra", "derivatives", "lyra-finance", None, "lyra"),
    Token("GNS", "Gains Network", "derivatives", "gains-network", "GNSUSDT", "gains-network"),
    Token("USDC", "USD Coin", "stablecoins", "usd-coin", "USDCUSDT", "usd-coin"),
    Token("DAI", "Dai", "stablecoins", "dai", None, "dai"),
    Token("FRAX", "Frax", "stablecoins", "frax", None, "frax"),
    Token("CRV", "Curve DAO", "curve", "curve-dao-token", "CRVUSDT", "curve-dex"),
    Token("CVX", "Convex Finance", "curve", "convex-finance", "CVXUSDT", "convex-finance"),
    Token("FXS", "Frax Share", "curve", "frax-share", "FXSUSDT", "frax"),
    Token("ARB", "Arbitrum", "layer2", "arbitrum", "ARBUSDT", "arbitrum"),
    Token("OP", "Optimism", "layer2", "optimism", "OPUSDT", "optimism"),
    Token("AAVE", "Aave", "lending", "aave", "AAVEUSDT", "aave"),
    Token("COMP", "Compound", "lending", "compound-governance-token", "COMPUSDT", "compound-finance"),
    Token("MKR", "Maker", "lending", "maker", "MKRUSDT", "makerdao"),
)

TOKENS_BY_SYMBOL: dict[str, Token] = {token.symbol: token for token in TOKENS}
SYMBOLS: tuple[str, ...] = tuple(TOKENS_BY_SYMBOL)
SYMBOL_CHOICES: list[tuple[str, str]] = [(t.symbol, f"{t.symbol} ({t.name})") for t in TOKENS]


#: Quote assets of the exchange pairs the platform meets (Binance spot pairs and dump file names).
QUOTE_ASSETS: tuple[str, ...] = ("USDT", "USDC", "FDUSD", "BUSD", "TUSD", "BTC", "ETH", "BNB")


def pair_base(pair: str) -> str | None:
    """The base asset of an exchange pair (``BTCUSDT`` -> ``BTC``), or ``None`` when no known quote ends it."""
    key = pair.strip().upper()
    for quote in QUOTE_ASSETS:
        if key.endswith(quote) and len(key) > len(quote):
            return key[: -len(quote)]
    return None


def get_token(symbol: str) -> Token:
    """The registered token for ``symbol`` (case-insensitive); ``ValueError`` otherwise."""
    token = TOKENS_BY_SYMBOL.get(symbol.strip().upper())
    if token is None:
        raise ValueError(f"unknown symbol {symbol!r}; supported: {', '.join(SYMBOLS)}")
    return token
