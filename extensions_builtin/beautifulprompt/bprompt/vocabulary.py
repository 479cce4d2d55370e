"""Curated prompt vocabularies for the built-in expander.

Each list runs from the most common, safest terms to rarer, more distinctive ones, so a `top_k` cut keeps
the mainstream part and a higher temperature reaches further down. No names of living artists.
`EXCLUSIVE_GROUPS` lists terms that contradict each other (two focal lengths, two times of day); at most
one term of a group goes into one prompt.
"""
from __future__ import annotations

MEDIUM_ART: tuple[str, ...] = (
    "digital painting", "oil painting", "concept art", "watercolor painting", "illustration", "3d render",
    "matte painting", "pencil sketch", "acrylic painting", "ink drawing", "gouache painting", "charcoal drawing",
    "pastel drawing", "vector art", "anime key visual", "isometric 3d render", "low poly render", "pixel art",
    "claymation still", "papercut collage", "linocut print", "woodblock print", "stained glass window",
    "copperplate etching", "egg tempera panel", "mosaic", "cel-shaded illustration", "fresco", "risograph print",
    "marble sculpture",
)

MEDIUM_PHOTO: tuple[str, ...] = (
    "photograph", "portrait photograph", "DSLR photo", "35mm film photograph", "studio photograph",
    "street photograph", "landscape photograph", "macro photograph", "editorial photograph", "polaroid photo",
    "medium format film photo", "black and white photograph", "aerial photograph", "long exposure photograph",
    "infrared photograph", "tilt-shift photograph", "cyanotype print", "daguerreotype", "wet plate collodion photo",
    "pinhole camera photo",
)

STYLE_ART: tuple[str, ...] = (
    "fantasy art", "impressionism", "art nouveau", "surrealism", "romanticism", "art deco", "cyberpunk",
    "baroque", "ukiyo-e", "steampunk", "retro futurism", "minimalism", "pop art", "expressionism",
    "dark fantasy", "whimsical storybook style", "post-impressionism", "pre-raphaelite style", "synthwave",
    "solarpunk", "Hudson River School", "rococo", "bauhaus", "cubism", "pointillism", "fauvism", "gothic revival",
    "Scandinavian folk art", "tenebrism", "luminism", "byzantine iconography", "constructivism", "suprematism",
    "dieselpunk", "afrofuturism", "Mughal miniature style",
)

STYLE_PHOTO: tuple[str, ...] = (
    "cinematic", "editorial style", "documentary style", "fine art photography", "fashion photography",
    "film noir", "candid", "wildlife photography", "analog film aesthetic", "vintage", "minimalist",
    "moody atmosphere", "high-key", "low-key", "photojournalism", "dreamy soft focus", "lomography",
    "architectural photography", "high fashion", "street style", "travel photography", "astrophotography",
)

LIGHTING: tuple[str, ...] = (
    "soft lighting", "natural light", "golden hour", "dramatic lighting", "cinematic lighting",
    "volumetric lighting", "rim light", "studio lighting", "backlit", "god rays", "blue hour",
    "overcast diffused light", "neon glow", "moonlight", "candlelight", "chiaroscuro", "dappled sunlight",
    "warm ambient light", "softbox lighting", "hard shadows", "bioluminescent glow", "subsurface scattering",
    "rembrandt lighting", "split lighting", "caustic reflections", "firelight", "aurora glow", "light leaks",
    "lantern light", "foggy atmospheric haze",
)

COMPOSITION: tuple[str, ...] = (
    "centered composition", "rule of thirds", "wide shot", "close-up", "full body shot", "low angle",
    "high angle", "symmetrical composition", "bird's-eye view", "dynamic pose", "establishing shot",
    "three-quarter view", "over-the-shoulder view", "dutch angle", "extreme close-up", "panoramic view",
    "leading lines", "negative space", "isometric view", "worm's-eye view", "natural framing",
    "silhouette against the sky", "layered foreground and background", "golden ratio composition",
)

CAMERA: tuple[str, ...] = (
    "shallow depth of field", "bokeh", "85mm lens", "35mm lens", "50mm lens", "wide-angle lens",
    "f/1.8", "telephoto lens", "film grain", "macro lens", "f/2.8", "Kodak Portra 400", "anamorphic lens",
    "lens flare", "motion blur", "high shutter speed", "full-frame camera", "f/8", "fisheye lens",
    "Kodak Ektar 100", "Fujifilm Velvia", "ISO 100", "prime lens", "HDR",
)

PALETTE: tuple[str, ...] = (
    "vibrant colors", "muted tones", "pastel colors", "warm color palette", "cool color palette", "earthy tones",
    "teal and orange", "high contrast", "complementary colors", "jewel tones", "desaturated", "neon colors",
    "sepia tones", "analogous colors", "deep blues and purples", "golden and crimson hues", "emerald and gold",
    "soft pastel pinks", "iridescent", "black and gold", "duotone", "sunset hues", "ochre and umber",
    "limited palette",
)

DETAIL: tuple[str, ...] = (
    "highly detailed", "intricate details", "sharp focus", "masterpiece", "best quality", "8k", "award-winning",
    "high resolution", "trending on artstation", "ultra detailed", "fine texture", "professional",
    "rich textures", "ornate", "detailed background", "epic scale", "atmospheric perspective", "4k",
    "subtle details", "polished", "elegant", "crisp edges", "smooth gradients", "breathtaking",
)

DETAIL_ART: tuple[str, ...] = (
    "expressive brushstrokes", "delicate linework", "visible canvas texture", "painterly", "clean line art",
    "impasto", "loose gestural strokes", "soft blending", "cross-hatching", "layered washes",
    "gilded accents", "hand-drawn",
)

DETAIL_PHOTO: tuple[str, ...] = (
    "photorealistic", "ultra realistic", "RAW photo", "natural skin texture", "tack sharp",
    "true-to-life colors", "fine grain", "crisp details", "realistic reflections", "unretouched",
)

EXCLUSIVE_GROUPS: tuple[frozenset[str], ...] = (
    frozenset({"85mm lens", "35mm lens", "50mm lens", "wide-angle lens", "telephoto lens", "macro lens",
               "anamorphic lens", "fisheye lens", "prime lens"}),
    frozenset({"f/1.8", "f/2.8", "f/8"}),
    frozenset({"Kodak Portra 400", "Kodak Ektar 100", "Fujifilm Velvia", "film grain", "fine grain"}),
    frozenset({"golden hour", "blue hour", "moonlight", "candlelight", "firelight", "lantern light"}),
    frozenset({"soft lighting", "dramatic lighting", "hard shadows", "overcast diffused light"}),
    frozenset({"wide shot", "close-up", "extreme close-up", "full body shot", "establishing shot", "panoramic view"}),
    frozenset({"low angle", "high angle", "bird's-eye view", "worm's-eye view", "isometric view"}),
    frozenset({"centered composition", "rule of thirds", "symmetrical composition", "golden ratio composition"}),
    frozenset({"vibrant colors", "muted tones", "desaturated", "neon colors", "pastel colors"}),
    frozenset({"warm color palette", "cool color palette", "teal and orange", "deep blues and purples",
               "sunset hues", "golden and crimson hues"}),
    frozenset({"8k", "4k", "high resolution"}),
    frozenset({"masterpiece", "best quality", "award-winning"}),
    frozenset({"high-key", "low-key", "film noir"}),
)

# Words in the user's prompt that already fix the medium (then no medium is added).
PHOTO_HINTS: tuple[str, ...] = ("photo", "photograph", "photography", "dslr", "camera", "selfie", "snapshot",
                                "polaroid", "35mm", "film still")
ART_HINTS: tuple[str, ...] = ("painting", "drawing", "sketch", "illustration", "render", "watercolor",
                              "watercolour", "anime", "cartoon", "comic", "pixel art", "concept art", "artwork",
                              "sculpture", "print", "3d", "digital art", "manga", "vector")
# Mediums (or user words) without colour, where a colour palette term would contradict.
MONOCHROME_HINTS: tuple[str, ...] = ("black and white", "monochrome", "grayscale", "greyscale", "pencil", "charcoal",
                                     "ink drawing", "etching", "cyanotype", "daguerreotype", "collodion",
                                     "sepia")
