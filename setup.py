from setuptools import find_packages, setup


def readme() -> str:
    with open('README.md', encoding='utf-8') as f:
        return f.read()


def version() -> str:
    scope: dict = {}
    with open('mmseg_uem/version.py', encoding='utf-8') as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='mmseg-uem',
    version=version(),
    description='Likelihood-ratio out-of-distribution segmentation (UEM) '
    'on frozen foundation models, as an MMSegmentation 1.x plugin',
    long_description=readme(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.9',
    # mmsegmentation's wheel ships a top-level `tests` package: keep ours out.
    packages=find_packages(exclude=('tests*', 'tools*', 'configs*', 'docker*')),
    include_package_data=True,
    # Ranges a GPU user with their own CUDA torch can satisfy; the exact set
    # used on CI is pinned in requirements.txt.
    install_requires=[
        'torch>=2.0',
        'torchvision',
        'mmengine>=0.10.4,<0.11',
        'mmcv>=2.0.0,<2.2.0',
        'mmsegmentation>=1.2.2,<1.3',
        'mmpretrain>=1.2.0,<1.3',
        'numpy',
        'opencv-python',
        'pycocotools',
        'cityscapesscripts',
        'ftfy',
        'regex',
        'scipy',
        'matplotlib',
        'tqdm',
    ],
    extras_require={
        'tests': ['pytest', 'hypothesis', 'scikit-learn', 'ruff'],
        'smiyc': ['h5py>=3.16.0,<4'],  # tools/test.py --out-format smiyc
        # ONNX export (torch's torch.export-based exporter needs onnxscript) and runtime;
        # imported only by mmseg_uem.deployment and tools/deployment/. Tested set: the
        # versions pinned in requirements.txt.
        'deploy': ['onnx>=1.23.2,<2', 'onnxscript>=0.7.2,<0.8', 'onnxruntime>=1.32.0,<2'],
    },
    zip_safe=False,
)
