"""A demo study made on the spot with Pillow: drawn scenes and degraded variants of them.

Every prompt has a clean rendering and versions with blur, noise, JPEG blocking and a scene that
belongs to another prompt (a mismatch), so all three perspectives have something to tell apart.

Rich feedback (issue 17), in the second demo study (`rich=True`, slug ``demo-rich``): the study asks where an image looks broken (points) and which prompt
words it misses. Each scene also has a "glitch" variant with a planted truth: a broken patch in a
known box, and a prompt naming one more object that the image leaves out. The truth is kept in
the stimulus' metadata (``metadata["planted"]``: ``box`` = [x0, y0, x1, y1] normalised, origin
top-left; ``missing_word`` and its index ``missing_token`` in ``tokenize_prompt(prompt)``), where
the pilot reads it to simulate marks and to measure how well the analysis recovers it.
"""

import io
import random
from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from analysis.stats.rich import tokenize_prompt
from experiments.models import Stimulus, Study
from experiments.services import stimulus_create, study_create, study_update

SIZE = 512
Draw = Callable[[ImageDraw.ImageDraw, random.Random], None]


def _sky(d: ImageDraw.ImageDraw, top: tuple[int, int, int], bottom: tuple[int, int, int], h: int) -> None:
    for y in range(h):
        t = y / max(h - 1, 1)
        d.line(
            [(0, y), (SIZE, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        )


def apple_on_table(d: ImageDraw.ImageDraw, rng: random.Random) -> None:
    _sky(d, (236, 226, 210), (214, 200, 180), 300)
    d.rectangle([0, 300, SIZE, SIZE], fill=(133, 86, 48))
    for x in range(0, SIZE, 37):
        d.line([(x, 300), (x + 60, SIZE)], fill=(112, 70, 38), width=3)
    d.ellipse([176, 180, 336, 340], fill=(196, 28, 36))
    d.ellipse([206, 205, 246, 245], fill=(236, 120, 120))
    d.line([(256, 185), (262, 145)], fill=(80, 50, 20), width=7)
    d.ellipse([262, 140, 312, 165], fill=(60, 140, 50))


def sailboat_sunset(d: ImageDraw.ImageDraw, rng: random.Random) -> None:
    _sky(d, (250, 140, 60), (250, 210, 120), 300)
    d.ellipse([300, 200, 400, 300], fill=(255, 236, 150))
    d.rectangle([0, 290, SIZE, SIZE], fill=(30, 70, 140))
    for y in range(300, SIZE, 14):
        d.line([(rng.randint(0, 200), y), (rng.randint(300, SIZE), y)], fill=(60, 110, 180), width=2)
    d.polygon([(150, 330), (330, 330), (300, 370), (180, 370)], fill=(90, 50, 30))
    d.polygon([(240, 140), (240, 320), (320, 320)], fill=(245, 245, 240))
    d.polygon([(232, 170), (232, 320), (170, 320)], fill=(225, 225, 220))
    d.line([(238, 130), (238, 332)], fill=(60, 40, 20), width=5)


def snowy_mountain(d: ImageDraw.ImageDraw, rng: random.Random) -> None:
    _sky(d, (10, 14, 40), (40, 50, 100), SIZE)
    for _ in range(120):
        x, y = rng.randint(0, SIZE), rng.randint(0, 260)
        r = rng.choice([1, 1, 2])
        d.ellipse([x - r, y - r, x + r, y + r], fill=(255, 255, 230))
    d.polygon([(0, SIZE), (200, 170), (420, SIZE)], fill=(90, 100, 130))
    d.polygon([(150, SIZE), (360, 210), (SIZE, SIZE)], fill=(110, 120, 150))
    d.polygon([(200, 170), (160, 230), (185, 220), (205, 240), (225, 222), (245, 235)], fill=(250, 250, 255))
    d.polygon([(360, 210), (325, 260), (350, 250), (370, 268), (395, 255)], fill=(250, 250, 255))


def yellow_house(d: ImageDraw.ImageDraw, rng: random.Random) -> None:
    _sky(d, (120, 180, 240), (200, 230, 250), 360)
    d.rectangle([0, 360, SIZE, SIZE], fill=(80, 160, 70))
    d.rectangle([136, 220, 376, 400], fill=(240, 200, 50))
    d.polygon([(116, 224), (256, 120), (396, 224)], fill=(170, 50, 40))
    d.rectangle([226, 300, 286, 400], fill=(30, 120, 60))
    d.ellipse([272, 348, 280, 356], fill=(220, 200, 80))
    for x0 in (156, 316):
        d.rectangle([x0, 250, x0 + 44, 290], fill=(190, 225, 250), outline=(255, 255, 255), width=4)


def cats_on_sofa(d: ImageDraw.ImageDraw, rng: random.Random) -> None:
    d.rectangle([0, 0, SIZE, SIZE], fill=(230, 220, 200))
    d.rectangle([0, 420, SIZE, SIZE], fill=(150, 120, 90))
    d.rounded_rectangle([60, 250, 452, 430], radius=30, fill=(40, 80, 160))
    d.rounded_rectangle([40, 300, 110, 440], radius=20, fill=(30, 65, 140))
    d.rounded_rectangle([402, 300, 472, 440], radius=20, fill=(30, 65, 140))
    for cx, colour in ((190, (90, 90, 90)), (320, (230, 150, 60))):
        d.ellipse([cx - 50, 230, cx + 50, 330], fill=colour)
        d.ellipse([cx - 35, 170, cx + 35, 240], fill=colour)
        d.polygon([(cx - 32, 190), (cx - 26, 150), (cx - 8, 178)], fill=colour)
        d.polygon([(cx + 32, 190), (cx + 26, 150), (cx + 8, 178)], fill=colour)
        d.ellipse([cx - 18, 195, cx - 8, 205], fill=(250, 240, 120))
        d.ellipse([cx + 8, 195, cx + 18, 205], fill=(250, 240, 120))


def red_bicycle(d: ImageDraw.ImageDraw, rng: random.Random) -> None:
    _sky(d, (200, 220, 235), (235, 240, 245), 380)
    d.rectangle([0, 380, SIZE, SIZE], fill=(120, 120, 125))
    for cx in (150, 362):
        d.ellipse([cx - 80, 260, cx + 80, 420], outline=(20, 20, 20), width=10)
        d.ellipse([cx - 8, 332, cx + 8, 348], fill=(60, 60, 60))
    d.line([(150, 340), (250, 340), (330, 250), (210, 250), (150, 340)], fill=(200, 30, 40), width=10)
    d.line([(250, 340), (200, 230), (362, 340)], fill=(200, 30, 40), width=10)
    d.line([(330, 250), (340, 215), (375, 215)], fill=(30, 30, 30), width=8)
    d.rectangle([180, 218, 225, 232], fill=(30, 30, 30))


SCENES: list[tuple[str, str, str, Draw]] = [
    ("a red apple on a wooden table", "Basic", "Food & Beverage", apple_on_table),
    ("a white sailboat on a calm sea at sunset", "Basic", "Outdoor Scenes", sailboat_sunset),
    ("a snowy mountain under a starry night sky", "Imagination", "Outdoor Scenes", snowy_mountain),
    (
        "a yellow house with a green door and a red roof",
        "Properties & Positioning",
        "Indoor Scenes",
        yellow_house,
    ),
    ("two cats sitting on a blue sofa", "Quantity", "Animals", cats_on_sofa),
]
TRAINING_SCENE = ("a red bicycle parked on a grey street", "Basic", "Vehicles", red_bicycle)


#: Per scene of SCENES: the glitch variant's prompt, which names one object the image leaves
#: out, and that object's word.
GLITCH_PROMPTS = [
    ("a red apple and a silver spoon on a wooden table", "spoon"),
    ("a white sailboat and a lighthouse on a calm sea at sunset", "lighthouse"),
    ("a snowy mountain and a full moon under a starry night sky", "moon"),
    ("a yellow house with a green door, a red roof and a chimney", "chimney"),
    ("two cats and a small dog sitting on a blue sofa", "dog"),
]
#: The annotation tasks of the demo study (issue 17).
ANNOTATION_TASKS = [
    {
        "key": "broken",
        "kind": "regions",
        "label": "Broken or implausible areas",
        "instructions": "Click every spot that looks broken, distorted or impossible; or choose nothing to mark.",
    },
    {
        "key": "missing",
        "kind": "words",
        "label": "Prompt words missing or wrong",
        "instructions": "Select the words of the prompt that the image leaves out or gets wrong; or choose all present.",
    },
]


def glitch_box(seed: int) -> tuple[float, float, float, float]:
    """The planted artefact's box (normalised x0, y0, x1, y1): 18-26% of the side, anywhere."""
    rng = random.Random(f"glitch|{seed}")
    w, h = rng.uniform(0.18, 0.26), rng.uniform(0.18, 0.26)
    x0, y0 = rng.uniform(0.05, 0.95 - w), rng.uniform(0.05, 0.95 - h)
    return (round(x0, 4), round(y0, 4), round(x0 + w, 4), round(y0 + h, 4))


def glitch(img: Image.Image, box: tuple[float, float, float, float], seed: int) -> Image.Image:
    """Break the image inside ``box``: shuffled, colour-inverted tiles with a smeared edge, the
    look of a generator's corrupted patch."""
    out = img.copy()
    x0, y0, x1, y1 = (round(v * SIZE) for v in box)
    patch = ImageOps.invert(out.crop((x0, y0, x1, y1)).convert("RGB"))
    rng = random.Random(f"tiles|{seed}")
    tile = 16
    tiles = [
        patch.crop((x, y, x + tile, y + tile))
        for y in range(0, patch.height - tile + 1, tile)
        for x in range(0, patch.width - tile + 1, tile)
    ]
    rng.shuffle(tiles)
    k = 0
    for y in range(0, patch.height - tile + 1, tile):
        for x in range(0, patch.width - tile + 1, tile):
            patch.paste(tiles[k], (x, y))
            k += 1
    out.paste(patch.filter(ImageFilter.EDGE_ENHANCE_MORE), (x0, y0))
    return out


def render(draw: Draw, seed: int) -> Image.Image:
    img = Image.new("RGB", (SIZE, SIZE))
    draw(ImageDraw.Draw(img), random.Random(seed))
    return img


def degrade(img: Image.Image, how: str, seed: int) -> Image.Image:
    if how == "blur":
        return img.filter(ImageFilter.GaussianBlur(radius=5))
    if how == "noise":
        noise = Image.effect_noise((SIZE, SIZE), 70).convert("RGB")
        return Image.blend(img, noise, 0.45)
    if how == "jpeg":
        buf = io.BytesIO()
        img.resize((SIZE // 4, SIZE // 4)).resize((SIZE, SIZE), Image.Resampling.NEAREST).save(
            buf, "JPEG", quality=4
        )
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return img


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


# (variant name, generator name shown in exports, degradation)
VARIANTS = [
    ("clean", "demo-sharp", ""),
    ("blur", "demo-blurry", "blur"),
    ("noise", "demo-noisy", "noise"),
    ("jpeg", "demo-blocky", "jpeg"),
    ("mismatch", "demo-confused", ""),
    ("glitch", "demo-glitchy", "glitch"),
]


@transaction.atomic
def demo_study_create(*, owner: User, slug: str = "demo", rich: bool = False) -> Study:
    """Create an open demo study: 5 prompts x 5 variants (test) and 3 training images.

    `rich`: the rich-feedback demo: a sixth, "glitch" variant per prompt (the planted truth in its
    metadata) and the two annotation tasks. Its question panel is taller, so it asks for a window
    of about 1920 x 1080 at its entry page; the plain demo fits 1280 x 720.
    """
    variants = VARIANTS if rich else [v for v in VARIANTS if v[0] != "glitch"]
    study = study_create(
        owner=owner,
        title="Demo: where AI-generated images fail" if rich else "Demo: AI-generated image quality",
        slug=slug,
        description=(
            "Rate 10 generated images, mark where they look broken and which prompt words they miss."
            if rich
            else "Rate 10 generated images for quality, authenticity and how well they match their prompt."
        ),
        instructions=(
            "You will see images made by text-to-image models, each with the text prompt it was made from. "
            "Rate every image from three perspectives. There are no right or wrong answers: give your own impression."
        ),
        consent_text=(
            "This is a demonstration study. Your ratings are stored anonymously and used only to test the software. "
            "You may stop at any time."
        ),
        stimuli_per_session=10,
        break_every=5,
        min_viewing_ms=1500,
        training_count=3,
        completion_code="DEMO-COMPLETE",
        screenout_code="DEMO-SCREENOUT",
    )
    position = 0
    for p, (prompt, challenge, scene, draw) in enumerate(SCENES):
        for v, (variant, generator, how) in enumerate(variants):
            shown = prompt
            metadata: dict[str, Any] = {"variant": variant}
            if variant == "mismatch":
                # Another prompt's scene, mirrored so that it is not a copy of that prompt's image.
                img = ImageOps.mirror(render(SCENES[(p + 2) % len(SCENES)][3], seed=100 + p))
            elif variant == "glitch":
                box = glitch_box(p)
                img = glitch(render(draw, seed=p), box, seed=p)
                shown, word = GLITCH_PROMPTS[p]
                planted = {
                    "box": list(box),
                    "missing_word": word,
                    "missing_token": tokenize_prompt(shown).index(word),
                }
                metadata = {"variant": variant, "planted": planted}
            else:
                img = degrade(render(draw, seed=p), how, seed=p * 10 + v)
            stimulus_create(
                study=study,
                data=png_bytes(img),
                name=f"{p:03d}-{v + 1}.png",
                prompt=shown,
                generator=generator,
                position=position,
                categories={"challenge": challenge, "scene": scene},
                metadata=metadata,
            )
            position += 1
    prompt, challenge, scene, draw = TRAINING_SCENE
    references = [("clean", 5.0), ("blur", 2.0), ("noise", 1.0)]
    for k, (variant, ref) in enumerate(references):
        how = {"clean": "", "blur": "blur", "noise": "noise"}[variant]
        stimulus_create(
            study=study,
            data=png_bytes(degrade(render(draw, seed=99), how, seed=k)),
            name=f"training-{k + 1}.png",
            prompt=prompt,
            generator="demo-training",
            position=position,
            role=Stimulus.Role.TRAINING,
            categories={"challenge": challenge, "scene": scene},
            reference_scores={"quality": ref},
        )
        position += 1
    if rich:
        study = study_update(study=study, fields={}, annotation_tasks=ANNOTATION_TASKS)
    study.status = Study.Status.OPEN
    study.save(update_fields=["status", "updated_at"])
    return study
