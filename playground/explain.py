"""The words shown next to each view, in one place so they stay consistent: a one-sentence intro that the picture needs
(X_INTRO), and the longer explanation under the tab's closed "Why?" accordion (X_NOTES). The guided tour's words are
in tour.py."""

HEADER = """
# VAE Playground
"""

DRAW_INTRO = """
Draw a digit or click a test digit: the model encodes it to a bubble and decodes the bubble's centre and points inside it.
"""

DRAW_WAITING = "Draw a digit on the canvas, upload one, or click a test digit below it."

DRAW_NOTES = """
**The models.** The healthy VAE, the beta = 0 autoencoder, the collapsed VAE, and the healthy VAE with a 2-D latent
space (healthy-2d). The bubble's plane is the PCA plane of the test digits' mu; for healthy-2d, its own z1, z2 plane.

**What the model sees.** Your digit is prepared the way MNIST's were (cropped, scaled to 20 px, centred by its centre
of mass) before the encoder turns it into a bubble.

**The bubble, not the dot.** During training the decoder never sees `mu` alone: it sees `z = mu + sigma * eps` with fresh
noise `eps` each time. So it must decode a whole neighbourhood of `mu` into the same digit, and neighbouring codes end
up meaning similar digits: that is what makes the space smooth enough to walk and to sample from. Switch to the
**autoencoder** (beta = 0): with no spring, sigma shrinks to almost nothing (a dot, not a bubble) and the codes drift far
from the origin. Switch to **collapsed**: the spring won, every bubble *is* the prior, and every digit decodes to the same blur.

**Why the reconstructions are blurry.** The loss is a squared error (a Gaussian with fixed sigma). When the bubble
leaves some doubt about the exact stroke, the decoder's best answer under squared error is the *average* of the
digits that could have produced this bubble, and an average of slightly different strokes is a blur. The samples
above show that doubt: each is a slightly different digit, the reconstruction from `mu` sits in the middle.

**Reading the bars.** Each bar is one latent dimension: its dot is `mu`, its length is `+- sigma`. The grey band is the
prior. Dimensions on the left carry the most information about digits (largest KL). A dimension the model does not use
sits at `mu = 0`, `sigma = 1`, exactly the prior, where the spring pulled it; the chart's title counts how many of its
dimensions this model uses (active: their `mu` still varies from digit to digit). The collapsed model uses none, so
every bar sits in the band; the autoencoder, with no spring, has bars far outside it.

**What the code kept.** The bottom strip sets the training digits whose codes lie nearest to this digit's code beside
the ones nearest pixel by pixel: the code was trained to keep what the decoder needs to redraw a digit, not where each
pixel lies, so the two rows can disagree. With **healthy-2d** the whole code is two numbers: the bubble sits on the
model's own z1, z2 plane (no PCA in between), the same map the Latent walk tab draws.
"""

WALK_INTRO = """
Move the sliders to decode any point z. **healthy-2d**: the whole space is two numbers; **healthy**: two of its 128 dimensions, the rest at 0.
"""

WALK_NOTES = """
**The grid.** Move through latent space and decode what you find. With **healthy-2d** the whole space is two numbers, so the grid below is a map of every digit this model can write. With **healthy** (128 dimensions) you walk two of them while the other 126 stay at 0, the article's z1/z2 figure.

**What one dimension does.** Each row of the bottom strip changes a single dimension and leaves the rest at 0. A VAE is
not told what a dimension should mean; the ones with the most KL usually pick up broad traits (slant, width, loops,
which digit), and the transitions are gradual because of the bubbles: nearby codes had to decode to similar digits.
The grid is smooth and has no holes near the origin for the same reason: the KL spring packed the codes around 0.
"""

INTERPOLATE_INTRO = """
The straight line between two digits' codes, decoded step by step; under each step, how far it lies from the nearest training code.
"""

INTERPOLATE_WAITING = "Open this tab, or pick two test digits by number; it needs the healthy and the autoencoder models."

INTERPOLATE_NOTES = """
**What to look for.** The article says that halfway between a 1 and a 7 a VAE decodes a plausible mix of both, because the KL spring packs the codes so closely that the decoder was trained on the space between them, while a plain autoencoder's codes sit in islands with dead zones between them. Check it here: pick two test digits (or your drawing and a test digit); each row decodes the straight line between their codes, and the number under each step says how far that point lies from the nearest training digit's code.

**Reading the distances.** Each model's codes live on a scale of their own (the autoencoder's spread many times wider),
so a raw distance says little across models. The figure in brackets divides it by how far a *real* unseen digit's code
lies from its nearest training code (the median over the 1,000 held-out digits): about 1 means the decoder has seen
codes like this one, well above 1 means the line crosses empty space where the decoder was never trained.
"""

PRIOR_INTRO = """
A VAE generates from z ~ N(0, I): here is where the prior puts its mass against where the training codes really are, and its **holes**.
"""

PRIOR_WAITING = ("Open this tab to see the prior against the codes; it needs the healthy and the autoencoder models. The first time, "
                 "it fits a mixture and a second VAE to each model's codes: a minute or two, then they are kept on disk.")

DATA_CURVE_MISSING = ("How much data does the promise need? Not measured on this machine yet: `python -m vae data-curve` trains the healthy "
                      "recipe on 500 to 4,000 digits (about half an hour on 2 cores) and this tab draws the curve.")

PRIOR_NOTES = """
**The two distributions.** A VAE generates by drawing z from the prior N(0, I), so the prior must cover the codes of real digits and nothing else. Here the prior stands beside the distribution the codes really follow (the *aggregate posterior*, modelled by a Gaussian mixture fitted to the training codes): samples from both, and on the bubble's plane the **holes**, where the prior puts mass and no digit's code lives, with each digit class drawn as its own Gaussian.

**Reading the plane.** On the left, the dashed line is where the training codes' density falls to 1% of its peak; the
holes, shaded, are the part of the prior's 2-sigma circle outside it. The distances above are medians over prior and
mixture samples, in all the dimensions at once.

**Reading it.** A z from the prior that lands in a hole decodes to something the decoder never learned to draw; a z
from the codes' mixture lands where digits live. The sentences above measure it in all the dimensions at once (how far
each kind of z lands from the nearest training code); the plane shows only two of them, where codes of many digits
overlap, so a hole in 128 dimensions need not show on it. The KL spring is what pulls the codes over the prior's
circles: without it (the autoencoder) they spread tens of units beyond them.

**Where the KL's nats go.** Averaged over the training digits, a VAE's KL splits exactly in two (Hoffman and Johnson
2016, "ELBO surgery"): I(x; z), what a code says about which of the N training digits it came from, which can never
exceed log N (8.3 nats for 4,000 digits), plus KL(q(z) || p(z)), how far the cloud of all the codes lies from the prior.
The ELBO pulls each digit's bubble towards the prior; nothing in it makes 4,000 bubbles fill it. Whatever the KL has
beyond log N is mismatch: prior mass where no code lives. (Estimated with 2,000 draws from the codes' bubbles, each
scored against all 4,000 of them; its Monte Carlo error is a few percent.)

**Filling the holes the VAE way.** The codes' own distribution can be learned by a second, small VAE (Dai and Wipf 2019,
"Diagnosing and enhancing VAE models"): trained on the first model's codes, it has its own N(0, I) prior, and a u drawn
from it goes through its decoder to a z where codes live, then through the first model's decoder to a digit. The first
model is untouched: the article's VAE stays the article's. The third row of samples comes that way; the sentences say how
many of 1,000 samples of each kind the project's digit judge is sure are digits.
"""

COMPARE_INTRO = """
One network trained with three values of beta, measured side by side.
"""

COMPARE_WAITING = "The comparison needs the three models fully trained; the status line above shows their progress. Open this tab again once they are ready."

COMPARE_NOTES = """
**The three regimes.** The same network trained three ways, differing only in the weight of the KL spring. **beta = 0** removes the spring (a plain autoencoder); **healthy** keeps reconstruction and KL in balance; **collapsed** makes the spring so stiff that encoding carries no information at all.

**How to read it.** On the shared PCA scale the autoencoder's codes spread tens of units from the origin: nothing pulls
them in, so a z drawn from N(0, I) lands in the empty middle and its prior samples are not digits. The healthy model's
codes sit in one cloud around the origin, a few units across, and still separate by digit (high 5-NN accuracy). The
collapsed model's codes all sit exactly at the origin: zero active units, KL near 0, one average blur for every input.
"""

TRAIN_INTRO = """
Pick beta, press **Train**, and watch reconstruction and the KL spring pull against each other, epoch by epoch.
"""

TRAIN_WAITING = "Choose beta and press **Train**. One run trains at a time on this machine; if others are ahead, yours waits its turn."

TRAIN_NOTES = """
**The two forces.** Train your own VAE and watch the two forces of its loss fight. **Reconstruction** wants each digit's code far from the others so it can be redrawn exactly; **beta x KL** is the spring pulling every code back to the origin and puffing it up to the prior's size. Pick beta, press **Train**, and watch the curves and, after every epoch, the latent cloud: a weak spring lets the clusters fly apart past the prior's circles, a stiff one pulls them into one blur at the centre.

**Reading it.** The lines are the two parts of the loss over the last few training batches, the dots the same parts on
the held-out digits after each epoch. With beta = 0 the red line stays at 0 (no spring) and the cloud spills out of the
window (codes beyond it are ringed on its edge). Around beta_eff 0.2 both forces stay in play: the cloud fills the
prior's circles with distinct digit clusters. From beta_eff about 2 the spring wins: KL falls towards 0, the bars go
grey (inactive dimensions sit exactly at the prior) and every reconstruction turns into the same average digit.

A run trains on 2,000 of the 4,000 training digits in a process of its own (one core, lower priority, so the other tabs
stay quick). The defaults take under a minute and make a rough model, enough to watch the two forces; more epochs make
a better one (the presets trained 10 epochs of all 4,000 digits). Stop keeps every finished epoch. Your last 3 runs stay while this page is open and are deleted when you
close it; nobody else sees them.
"""

PLANE_NOTES = """
**Reading the plane.** Every VAE buys reconstruction with rate: the nats of KL each code spends to say which digit it
is. **Collapsed** (KL under 0.5 nats): the spring won, every code sits at the prior and every digit decodes to the same
blur, so the error is high. **No KL force** (over 200 nats, more than a good model needs to describe a whole digit):
codes spread far beyond the prior; reconstructions are sharp, but a random z lands where no digit lives. **Healthy**: in
between, where most of the drawing survives and the prior's samples are digits. beta_eff sets where a model lands:
raise it and the point slides left and up. The presets mark the three regimes; your runs are the stars.
"""

LIKELIHOOD_INTRO = """
How the reconstruction loss's likelihood shapes the pictures: **L2** against **L1**, and a decoder free to choose **sigma per pixel**.
"""

LIKELIHOOD_WAITING = ("Open this tab, or pick a test digit by number; it needs the healthy model and two models that train after the four presets "
                      "(laplace and learned-sigma).")

LIKELIHOOD_NOTES = """
**Three likelihoods.** The reconstruction term of the loss is a likelihood, p(x|z), and its choice shapes the pictures. Under **L2** (a Gaussian with a fixed sigma: the healthy model) the best answer to a stroke the bubble leaves in doubt is the *mean* of the digits it could be; under **L1** (a Laplace: the laplace model, trained the same way) it is their *median*. And a decoder that may also choose a **sigma for every pixel** (learned-sigma) can lower its loss without drawing any better: the variance cheat. Pick a test digit, or your drawing.

**Reading the sharpness.** The gradient is how fast brightness changes from one pixel to the next: a crisp stroke goes
from black to white in a pixel or two, a blurred one over several, at a lower slope. Sharpness is the mean *squared*
gradient over the picture, over the input's: squared, because a blurred edge still climbs the same height, only over
more pixels, and the plain mean barely notices. 50% reads: edges twice as wide.

**Reading the sigma map.** The sigma map is on a log scale; under it, each pixel's nats with the learned sigma, and with sigma
fixed at 0.1 (the healthy model). A pixel with error e under sigma s costs e^2 / 2s^2 + log s nats (plus a constant). With sigma
fixed, every pixel pays for its error alike, so the decoder must draw the digit to lower its loss. Let it choose s per
pixel and there is a cheaper way: a large s where drawing is hard (the edges) makes errors there nearly free, and a
small s where the answer is always 0 (the border no digit touches) earns nats for nothing. The floor e^-7 keeps the
loss finite: there one pixel earns at most 6.1 nats. That is why the article, and this project, keep sigma fixed.
"""

HOW_INTRO = """
The article's pseudo-code, run on one digit with its real numbers, step by step.
"""

HOW_WAITING = "Open this tab to run a digit through the model; it needs the chosen model trained."

HOW_NOTES = """
**The whole VAE in one pass.** The encoder turns a digit into a **bubble** in a 128-dimensional latent space: a centre `mu` and a size `sigma` per dimension. The decoder turns any point `z` of that space back into a digit. Training pulls in two directions: **reconstruction** wants every bubble small and far apart so each digit can be told apart, while the **KL term** is a spring that pulls every bubble towards the origin and inflates it to the size of the prior N(0, I). `beta` sets how stiff the spring is.

**Why eps sits outside the network.** Sampling z directly from N(mu, sigma²) would be a random step that no gradient
passes through. Written as z = mu + sigma * eps, the randomness is an input like the image: the loss's gradient
reaches mu and sigma through a multiplication and an addition (Kingma & Welling 2014).

**Try the models.** The **autoencoder** (beta = 0) has no KL force: its sigma shrinks to a dot and mu runs far from 0,
so New eps barely moves z. In the **collapsed** model the KL won: mu sits at 0 and sigma at 1 in every dimension, the
bubble *is* the prior, the code says nothing about the digit and the decoder draws the same average for every input.

**Why the reconstruction's nats are large.** With sigma fixed at 0.1, a pixel off by 0.1 costs 0.5 nats more than a
perfect one, a pixel off by 0.5 costs 12.5 more: the map shows the loss concentrated on the strokes' edges, where
the decoder is least sure.
"""
