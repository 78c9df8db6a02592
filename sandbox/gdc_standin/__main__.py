from sandbox.gdc_standin.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
