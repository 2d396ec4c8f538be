# Peer golden values for korus_research.macro, computed in R from the SYNTHETIC input
# tests/data/macro_synthetic_input.csv (written by tests/peers/make_macro_input.py).
#
# Run from the repository root (Debian: apt-get install -y r-base-core r-cran-sandwich
# r-cran-lmtest r-cran-dynlm r-cran-urca r-cran-strucchange r-cran-tseries):
#     Rscript tests/peers/macro_peer.R
# It writes tests/data/macro_golden_r.csv (quantity, value); tests/test_macro.py compares the
# Python results with it without needing R. Every number is computed here independently: the
# ARDL designs with dynlm, the bounds F from nested lm fits (anova), the long-run coefficients
# and their delta-method errors by hand from vcov(), the residual tests with lmtest/tseries,
# the unit-root and cointegration tests with urca, DOLS by lm and FMOLS by hand, the break tests
# with strucchange, the joint covariance and the decomposition by matrix algebra.

suppressMessages({
  library(lmtest); library(sandwich); library(dynlm); library(urca)
  library(strucchange); library(tseries)
})

input <- "tests/data/macro_synthetic_input.csv"
output <- "tests/data/macro_golden_r.csv"
raw <- read.csv(input)
dat <- ts(data.frame(
  ln_imports_real = log(raw$imports_real), ln_exports_real = log(raw$exports_real),
  ln_us_demand = log(raw$us_demand), ln_partner_demand = log(raw$partner_demand),
  ln_rer = log(raw$rer), agreement = raw$agreement), start = raw$year[1])
years <- raw$year

rows <- list()
add <- function(name, value) rows[[length(rows) + 1]] <<- data.frame(quantity = name, value = as.numeric(value))

MAXP <- 2; MAXQ <- 2
first_year <- years[1] + max(MAXP, MAXQ, 1)   # the common sample of every order

# ------------------------------------------------------------------ ARDL / UECM
uecm_formula <- function(y, xs, p, q, fixed = "agreement") {
  terms <- c(sprintf("L(%s, 1)", y))
  for (j in seq_along(xs)) terms <- c(terms, if (q[j] >= 1) sprintf("L(%s, 1)", xs[j]) else xs[j])
  if (p > 1) for (i in 1:(p - 1)) terms <- c(terms, sprintf("L(d(%s), %d)", y, i))
  for (j in seq_along(xs)) if (q[j] >= 1) for (i in 0:(q[j] - 1))
    terms <- c(terms, if (i == 0) sprintf("d(%s)", xs[j]) else sprintf("L(d(%s), %d)", xs[j], i))
  terms <- c(terms, fixed)
  as.formula(paste(sprintf("d(%s)", y), "~", paste(terms, collapse = " + ")))
}
level_terms <- function(y, xs, q) c(sprintf("L(%s, 1)", y), ifelse(q >= 1, sprintf("L(%s, 1)", xs), xs))

fit_uecm <- function(y, xs, p, q) dynlm(uecm_formula(y, xs, p, q), data = dat, start = first_year)

select_order <- function(y, xs) {
  best <- NULL
  grid <- expand.grid(c(list(p = 1:MAXP), setNames(rep(list(0:MAXQ), length(xs)), xs)))
  res <- data.frame()
  for (i in seq_len(nrow(grid))) {
    p <- grid$p[i]; q <- as.integer(grid[i, xs])
    m <- fit_uecm(y, xs, p, q)
    bg <- bgtest(m, order = 2, type = "F")$p.value
    res <- rbind(res, data.frame(p = p, q = paste(q, collapse = ","), bic = BIC(m), bg = bg))
  }
  res <- res[order(res$bic), ]
  ok <- res[res$bg >= 0.05, ]
  chosen <- if (nrow(ok)) ok[1, ] else res[1, ]
  list(p = chosen$p, q = as.integer(strsplit(chosen$q, ",")[[1]]))
}

report_uecm <- function(tag, y, xs, p, q) {
  m <- fit_uecm(y, xs, p, q)
  cf <- coef(summary(m))
  add(sprintf("%s uecm nobs", tag), nobs(m))
  add(sprintf("%s uecm ssr", tag), sum(resid(m)^2))
  add(sprintf("%s uecm loglik", tag), as.numeric(logLik(m)))
  for (nm in rownames(cf)) {
    add(sprintf("%s uecm coef %s", tag, nm), cf[nm, 1])
    add(sprintf("%s uecm se %s", tag, nm), cf[nm, 2])
  }
  # bounds F: the level terms jointly zero (nested models on the same sample)
  lv <- level_terms(y, xs, q)
  keep <- setdiff(attr(terms(m), "term.labels"), lv)
  restricted <- dynlm(as.formula(paste(sprintf("d(%s)", y), "~", paste(keep, collapse = " + "))),
                      data = dat, start = first_year)
  add(sprintf("%s bounds F", tag), anova(restricted, m)$F[2])
  add(sprintf("%s bounds t", tag), cf[lv[1], 3])
  # long run: -pi_x / pi_y with the delta method
  V <- vcov(m); b <- coef(m); py <- b[lv[1]]
  for (j in seq_along(xs)) {
    nm <- lv[j + 1]
    theta <- -b[nm] / py
    g <- setNames(rep(0, length(b)), names(b)); g[nm] <- -1 / py; g[lv[1]] <- b[nm] / py^2
    add(sprintf("%s long run %s", tag, xs[j]), theta)
    add(sprintf("%s long run se %s", tag, xs[j]), sqrt(t(g) %*% V %*% g))
  }
  theta <- -b["agreement"] / py
  g <- setNames(rep(0, length(b)), names(b)); g["agreement"] <- -1 / py; g[lv[1]] <- b["agreement"] / py^2
  add(sprintf("%s long run agreement", tag), theta)
  add(sprintf("%s long run se agreement", tag), sqrt(t(g) %*% V %*% g))
  # residual tests
  add(sprintf("%s Breusch-Godfrey F", tag), bgtest(m, order = 2, type = "F")$statistic)
  add(sprintf("%s Breusch-Godfrey p", tag), bgtest(m, order = 2, type = "F")$p.value)
  add(sprintf("%s Jarque-Bera", tag), jarque.bera.test(resid(m))$statistic)
  add(sprintf("%s Breusch-Pagan LM", tag), bptest(m)$statistic)
  add(sprintf("%s Breusch-Pagan p", tag), bptest(m)$p.value)
  m
}

eqs <- list(imports = list(y = "ln_imports_real", xs = c("ln_us_demand", "ln_rer")),
            exports = list(y = "ln_exports_real", xs = c("ln_partner_demand", "ln_rer")))
fits <- list(); orders <- list()
for (tag in names(eqs)) {
  e <- eqs[[tag]]
  o <- select_order(e$y, e$xs)
  orders[[tag]] <- o
  add(sprintf("%s selected p", tag), o$p)
  for (j in seq_along(e$xs)) add(sprintf("%s selected q %s", tag, e$xs[j]), o$q[j])
  fits[[tag]] <- report_uecm(tag, e$y, e$xs, o$p, o$q)
  # a longer fixed order exercises every term of the design
  report_uecm(sprintf("%s forced", tag), e$y, e$xs, 2, c(1, 2))
}

# ------------------------------------------------------------------ growth-rate model
growth <- list()
for (tag in names(eqs)) {
  e <- eqs[[tag]]
  f <- as.formula(sprintf("d(%s) ~ d(%s) + d(ln_rer) + L(d(ln_rer), 1) + d(agreement)", e$y, e$xs[1]))
  m <- dynlm(f, data = dat, start = first_year)
  growth[[tag]] <- m
  cf <- coef(summary(m))
  for (nm in rownames(cf)) {
    add(sprintf("%s growth coef %s", tag, nm), cf[nm, 1])
    add(sprintf("%s growth se %s", tag, nm), cf[nm, 2])
  }
  add(sprintf("%s growth Breusch-Godfrey F", tag), bgtest(m, order = 2, type = "F")$statistic)
}

# ------------------------------------------------------------------ static levels, Newey-West
for (tag in names(eqs)) {
  e <- eqs[[tag]]
  m <- lm(as.formula(paste(e$y, "~", paste(c(e$xs, "agreement"), collapse = " + "))), data = as.data.frame(dat))
  V <- NeweyWest(m, lag = 2, prewhite = FALSE, adjust = FALSE)
  for (nm in names(coef(m))) {
    add(sprintf("%s static coef %s", tag, nm), coef(m)[nm])
    add(sprintf("%s static nw se %s", tag, nm), sqrt(V[nm, nm]))
  }
}

# ------------------------------------------------------------------ unit roots (urca)
# Bartlett long-run variance without demeaning: gamma_0 + 2 sum (1 - j/(b+1)) gamma_j, gamma_j = sum u_t u_{t-j} / n
nw_lrv <- function(u, b) {
  n <- length(u); v <- sum(u^2) / n
  for (j in seq_len(b)) v <- v + 2 * (1 - j / (b + 1)) * sum(u[-(1:j)] * u[1:(n - j)]) / n
  v
}
pp_tau <- function(s, trend, lags) {
  n1 <- length(s); yv <- s[-1]; yl <- s[-n1]; tt <- seq_along(yv)
  m <- if (trend) lm(yv ~ yl + tt) else lm(yv ~ yl)
  u <- resid(m); n <- length(u); k <- length(coef(m))
  s2 <- sum(u^2) / (n - k); g0 <- sum(u^2) / n; lam2 <- nw_lrv(u, lags)
  sig <- coef(summary(m))["yl", 2]; rho <- coef(m)["yl"]
  sqrt(g0 / lam2) * (rho - 1) / sig - 0.5 * (lam2 - g0) / sqrt(lam2) * n * sig / sqrt(s2)
}
# Phillips-Ouliaris Z_t on the residuals of the static regression (their eq. for Z_t, with the
# (n-1)/n scaling of the long-run variance)
po_zt <- function(u, b) {
  n <- length(u); u0 <- u[-n]; u1 <- u[-1]
  alpha <- sum(u0 * u1) / sum(u0^2); k <- u1 - alpha * u0; m <- length(k)
  oss <- 0; lr <- sum(k^2) / m
  for (j in seq_len(b)) { w <- 1 - j / (b + 1); gj <- sum(k[-(1:j)] * k[1:(m - j)]) / m; oss <- oss + w * gj; lr <- lr + 2 * w * gj }
  sc <- (n - 1) / n
  z <- (alpha - 1) - n * sc * oss / sum(u0^2)
  z / sqrt(sc * lr / sum(u0^2))
}
l4 <- function(n) floor(4 * (n / 100)^0.25)
ur_rows <- list(ln_imports_real = "trend", ln_us_demand = "trend", ln_rer = "drift")
adf_lags <- read.csv("tests/data/macro_adf_lags.csv")  # the lags the Python ADF chose (AIC), so both test the same regression
for (v in names(ur_rows)) {
  for (diffd in c(FALSE, TRUE)) {
    s <- as.numeric(dat[, v]); if (diffd) s <- diff(s)
    label <- if (diffd) paste("d", v) else v
    type <- if (diffd) "drift" else ur_rows[[v]]
    L <- adf_lags$lags[adf_lags$series == label]
    add(sprintf("ADF %s", label), ur.df(s, type = type, lags = L, selectlags = "Fixed")@teststat[1])
    model <- if (type == "trend") "trend" else "constant"
    # urca's ur.pp uses Phillips and Perron's (1988) moment form: it differs from the regression
    # form (Hamilton 1994, eq. 17.6.8) by O(1/T); both are recorded, the test states the precision
    add(sprintf("PP urca %s", label), ur.pp(s, type = "Z-tau", model = model, use.lag = l4(length(s)))@teststat[1])
    add(sprintf("PP %s", label), pp_tau(s, trend = type == "trend", lags = l4(length(s))))
    add(sprintf("KPSS %s", label), ur.kpss(s, type = if (type == "trend") "tau" else "mu", use.lag = l4(length(s)))@teststat[1])
    if (!diffd) {
      za <- ur.za(s, model = if (type == "trend") "both" else "intercept", lag = adf_lags$za_lags[adf_lags$series == label])
      add(sprintf("ZA %s", label), za@teststat)
      add(sprintf("ZA break year %s", label), years[za@bpoint + 1])  # bpoint: last period before the shift
    }
  }
}

# ------------------------------------------------------------------ cointegration (levels, constant)
for (tag in names(eqs)) {
  e <- eqs[[tag]]
  Y <- as.numeric(dat[, e$y]); X <- as.matrix(dat[, e$xs]); n <- length(Y)
  u <- resid(lm(Y ~ X))
  L <- adf_lags$lags[adf_lags$series == sprintf("EG %s", tag)]
  add(sprintf("%s Engle-Granger", tag), ur.df(u, type = "none", lags = L, selectlags = "Fixed")@teststat[1])
  add(sprintf("%s Phillips-Ouliaris Zt", tag), po_zt(u, l4(n)))
  # DOLS: one lead and one lag of the differences; long-run variance (Bartlett, bandwidth l4)
  dX <- rbind(NA, diff(X))
  lead1 <- rbind(dX[-1, , drop = FALSE], NA)
  lag1 <- rbind(NA, dX[-n, , drop = FALSE])
  Z <- cbind(1, X, lead1, dX, lag1)
  ok <- complete.cases(Z)
  Zs <- Z[ok, ]; Ys <- Y[ok]
  b <- solve(crossprod(Zs), crossprod(Zs, Ys))
  e_ <- as.numeric(Ys - Zs %*% b); T_ <- length(e_)
  bw <- l4(n)
  lr <- sum(e_^2) / T_
  for (j in seq_len(bw)) lr <- lr + 2 * (1 - j / (bw + 1)) * sum(e_[-(1:j)] * e_[1:(T_ - j)]) / T_
  V <- lr * solve(crossprod(Zs))
  for (j in seq_along(e$xs)) {
    add(sprintf("%s DOLS %s", tag, e$xs[j]), b[1 + j])
    add(sprintf("%s DOLS se %s", tag, e$xs[j]), sqrt(V[1 + j, 1 + j]))
  }
  # FMOLS (Phillips and Hansen 1990), Bartlett kernel, bandwidth l4
  u1 <- resid(lm(Y ~ X))
  xd <- apply(X, 2, function(c) c - mean(c))
  eta <- cbind(u1[-1], diff(xd))
  Tn <- nrow(eta)
  gam <- function(j) crossprod(eta[(j + 1):Tn, , drop = FALSE], eta[1:(Tn - j), , drop = FALSE]) / Tn
  Omega <- gam(0); Delta <- gam(0)
  for (j in seq_len(bw)) { w <- 1 - j / (bw + 1); G <- gam(j); Omega <- Omega + w * (G + t(G)); Delta <- Delta + w * G }
  k <- ncol(X)
  o12 <- Omega[1, -1, drop = FALSE]; o22 <- Omega[-1, -1]; d12 <- Delta[-1, 1, drop = FALSE]; d22 <- Delta[-1, -1]
  # one-sided covariance with rows = regressand, cols = lagged: Delta_{12} is E[u1_t eta2_{t-j}]' in arch's layout
  lam12 <- t(Delta[1, -1, drop = FALSE]) ; lam22 <- Delta[-1, -1]
  ydot <- Y[-1] - diff(xd) %*% solve(o22) %*% t(o12)
  Zf <- cbind(X[-1, ], 1)
  bias <- rbind(t(t(lam12) - o12 %*% solve(o22) %*% lam22), 0)
  bf <- solve(crossprod(Zf), t(Zf) %*% ydot - Tn * bias)
  o112 <- Omega[1, 1] - o12 %*% solve(o22) %*% t(o12)
  Vf <- as.numeric(o112) * solve(crossprod(Zf))
  for (j in seq_along(e$xs)) {
    add(sprintf("%s FMOLS %s", tag, e$xs[j]), bf[j])
    add(sprintf("%s FMOLS se %s", tag, e$xs[j]), sqrt(Vf[j, j]))
  }
  # Johansen, unrestricted constant, K = 2 (one lagged difference)
  jo <- ca.jo(as.data.frame(dat[, c(e$y, e$xs)]), type = "trace", ecdet = "none", K = 2, spec = "transitory")
  for (r in 0:2) add(sprintf("%s Johansen eigenvalue %d", tag, r), jo@lambda[r + 1])
  for (r in 0:2) add(sprintf("%s Johansen trace r<=%d", tag, r), rev(jo@teststat)[r + 1])
}

# ------------------------------------------------------------------ breaks (strucchange)
for (tag in names(eqs)) {
  e <- eqs[[tag]]
  df <- as.data.frame(dat); df$year <- years
  f <- as.formula(paste(e$y, "~", paste(e$xs, collapse = " + ")))
  point <- which(years == 2011)
  add(sprintf("%s Chow F", tag), sctest(f, data = df, type = "Chow", point = point)$statistic)
  h <- ceiling(0.15 * nrow(df))
  bp <- breakpoints(f, data = df, h = h)
  add(sprintf("%s Bai-Perron 1 break year", tag), years[breakpoints(bp, breaks = 1)$breakpoints + 1])
  b2 <- breakpoints(bp, breaks = 2)$breakpoints
  add(sprintf("%s Bai-Perron 2 breaks first year", tag), years[b2[1] + 1])
  add(sprintf("%s Bai-Perron 2 breaks second year", tag), years[b2[2] + 1])
  add(sprintf("%s Bai-Perron SSR 0", tag), deviance(lm(f, data = df)))
  add(sprintf("%s Bai-Perron SSR 1", tag), summary(bp)$RSS["RSS", "1"])
  add(sprintf("%s Bai-Perron SSR 2", tag), summary(bp)$RSS["RSS", "2"])
  fs <- Fstats(f, data = df, from = h, to = nrow(df) - h)
  add(sprintf("%s sup-F(1) x k", tag), max(fs$Fstats))
  # recursive CUSUM and CUSUM of squares on the selected UECM without the agreement step
  m <- fits[[tag]]
  X <- model.matrix(m); X <- X[, colnames(X) != "agreement", drop = FALSE]
  yv <- as.numeric(model.response(model.frame(m)))
  ef <- efp(yv ~ X - 1, type = "Rec-CUSUM")
  add(sprintf("%s Rec-CUSUM", tag), sctest(ef)$statistic)
  w <- recresid(yv ~ X - 1)
  n <- length(w)
  add(sprintf("%s CUSUM of squares", tag), max(abs(cumsum(w^2) / sum(w^2) - (1:n) / n)))
}

# ------------------------------------------------------------------ joint covariance and decomposition
# imports: long-run ARDL (its relation passes in Python); exports: growth-rate model (it does not)
mi <- fits[["imports"]]; mx <- growth[["exports"]]
Xi <- model.matrix(mi); Xx <- model.matrix(mx)
ui <- resid(mi); ux <- resid(mx)
sij <- sum(ui * ux) / sqrt(df.residual(mi) * df.residual(mx))
cross <- sij * solve(crossprod(Xi)) %*% t(Xi) %*% Xx %*% solve(crossprod(Xx))
lv <- level_terms("ln_imports_real", eqs$imports$xs, orders$imports$q)
add("joint cross covariance income terms", cross[lv[2], "d(ln_partner_demand)"])
Vall <- rbind(cbind(vcov(mi), cross), cbind(t(cross), vcov(mx)))

logmean <- function(a, b) (a - b) / (log(a) - log(b))
base <- 2011; comp <- 2016
row <- function(y) which(years == y)
parts <- function(side) {
  nominal <- raw[[paste0(side, "_nominal")]]; price <- raw[[paste0(side, "_price")]]
  v0 <- nominal[row(base)]; v1 <- nominal[row(comp)]; L <- logmean(v1, v0)
  list(L = L, total = v1 - v0, price = L * log(price[row(comp)] / price[row(base)]), total_log = log(v1 / v0))
}
pi_ <- parts("imports"); px <- parts("exports")
ni <- names(coef(mi)); nx <- names(coef(mx))
gi <- list(); gx <- list(); vi <- list(); vx <- list()
# imports, long run
b <- coef(mi)
py <- b[lv[1]]
lr_term <- function(term, dx) {
  g <- setNames(rep(0, length(b)), ni); g[term] <- -pi_$L * dx / py; g[lv[1]] <- pi_$L * dx * b[term] / py^2
  list(value = -pi_$L * dx * b[term] / py, grad = g)
}
dlev <- function(v) as.numeric(dat[row(comp), v] - dat[row(base), v])
inc_i <- lr_term(lv[2], dlev("ln_us_demand"))
rer_i <- lr_term(lv[3], dlev("ln_rer"))
agr_i <- lr_term("agreement", 1)
# exports, growth: coefficients times summed growth over base+1..compare
yrs <- (row(base) + 1):row(comp)
gsum <- function(v, lag = 0) sum(diff(as.numeric(dat[, v]))[yrs - 1 - lag])
bx <- coef(mx)
gvec <- function(pairs) { g <- setNames(rep(0, length(bx)), nx); for (p in pairs) g[p$name] <- g[p$name] + px$L * p$value; g }
inc_x <- gvec(list(list(name = "d(ln_partner_demand)", value = gsum("ln_partner_demand"))))
rer_x <- gvec(list(list(name = "d(ln_rer)", value = gsum("ln_rer")), list(name = "L(d(ln_rer), 1)", value = gsum("ln_rer", 1))))
agr_x <- gvec(list(list(name = "d(agreement)", value = gsum("agreement"))))
drf_x <- gvec(list(list(name = "(Intercept)", value = length(yrs))))
comp_rows <- list(
  income = list(x = sum(inc_x * bx), i = inc_i$value, gx = inc_x, gi = inc_i$grad),
  rer = list(x = sum(rer_x * bx), i = rer_i$value, gx = rer_x, gi = rer_i$grad),
  agreement = list(x = sum(agr_x * bx), i = agr_i$value, gx = agr_x, gi = agr_i$grad),
  drift = list(x = sum(drf_x * bx), i = 0, gx = drf_x, gi = setNames(rep(0, length(b)), ni)))
zq <- qnorm(0.975)
for (nm in names(comp_rows)) {
  r <- comp_rows[[nm]]
  g <- c(-r$gi, r$gx)
  add(sprintf("decomposition %s balance", nm), r$x - r$i)
  add(sprintf("decomposition %s se", nm), sqrt(t(g) %*% Vall %*% g))
}
add("decomposition prices balance", px$price - pi_$price)
misfit_x <- px$L * px$total_log - px$price - sum(sapply(comp_rows, function(r) r$x))
misfit_i <- pi_$L * pi_$total_log - pi_$price - sum(sapply(comp_rows, function(r) r$i))
add("decomposition misfit balance", misfit_x - misfit_i)
total <- px$total - pi_$total
add("decomposition total balance", total)
gm <- c(-(comp_rows$income$gi + comp_rows$rer$gi), comp_rows$income$gx + comp_rows$rer$gx) / total
add("macro share", (comp_rows$income$x - comp_rows$income$i + comp_rows$rer$x - comp_rows$rer$i) / total)
add("macro share se", sqrt(t(gm) %*% Vall %*% gm))

out <- do.call(rbind, rows)
write.csv(out, output, row.names = FALSE)
cat(sprintf("wrote %s (%d values)\n", output, nrow(out)))
