from k8s.mirror import Mirror


def obj(name: str, value: int, namespace: str = "demo") -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": namespace}, "value": value}


def value_or_none(raw: object) -> int | None:
    value = raw["value"] if isinstance(raw, dict) else None
    return value if isinstance(value, int) and value >= 0 else None


def test_a_list_fills_the_mirror_and_unparsable_objects_are_left_out():
    mirror = Mirror(value_or_none)
    mirror.load([obj("a", 1), obj("b", -1), obj("c", 3, "other")])
    assert sorted(mirror) == [("demo", "a"), ("other", "c")]
    assert mirror.get(("demo", "a")) == 1
    assert len(mirror) == 2


def test_events_add_replace_and_delete():
    mirror = Mirror(value_or_none)
    assert mirror.event(None, obj("a", 1)) == ("demo", "a")
    mirror.event("MODIFIED", obj("a", 2))
    assert mirror.values() == [2]
    mirror.event("MODIFIED", obj("a", -5))  # no longer parsable: gone
    assert mirror.get(("demo", "a")) is None
    mirror.event(None, obj("b", 7))
    mirror.event("DELETED", obj("b", 7))
    assert list(mirror) == []


def test_a_list_never_overwrites_what_an_event_already_brought():
    mirror = Mirror(value_or_none)
    mirror.event("MODIFIED", obj("a", 9))
    mirror.load([obj("a", 1)])
    assert mirror.get(("demo", "a")) == 9


def test_a_second_mirror_fed_by_the_first_sees_every_list_and_event():
    def double(raw: object) -> int | None:
        value = value_or_none(raw)
        return None if value is None else 2 * value

    doubled = Mirror(double)
    mirror = Mirror(value_or_none, also=doubled)
    mirror.load(iter([obj("a", 1), obj("b", 2)]))
    mirror.event("MODIFIED", obj("a", 5))
    mirror.event("DELETED", obj("b", 2))
    assert (mirror.values(), doubled.values()) == ([5], [10])
