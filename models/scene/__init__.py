"""SceneClassifier backends of the ``indoor`` stage (protocol: :class:`models.backends.SceneClassifier`).

A new backend: one module here with a class built from the config, plus one line below.
"""

from models.backends import Registry

SCENE_CLASSIFIERS = Registry(
    "scene classifier",
    {
        "places365": "models.scene.places365:Places365Classifier",
        "none": "models.scene.none:NoSceneFilter",
        "synthetic-gt": "models.scene.synthetic:SyntheticScenes",
    },
)
