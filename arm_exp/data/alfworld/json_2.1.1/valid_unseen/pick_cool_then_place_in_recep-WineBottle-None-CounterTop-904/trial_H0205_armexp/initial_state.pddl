;; Hand-authored by arm-exp for tests and CPU demos; not from the ALFRED/ALFWorld
;; dataset. Room ArmExpKitchenD, task pick_cool_then_place_in_recep. Rendered from
;; arm_exp/envs/alfworld_games.py; edit the spec there, not this file.
(define (problem plan_trial_H0205_armexp)
(:domain alfred)
(:objects
    agent1 - agent
    AppleType - otype
    BowlType - otype
    BreadType - otype
    EggType - otype
    ForkType - otype
    GlassbottleType - otype
    KettleType - otype
    KnifeType - otype
    LettuceType - otype
    PanType - otype
    PlateType - otype
    SaltShakerType - otype
    SpoonType - otype
    TomatoType - otype
    WineBottleType - otype
    CabinetType - rtype
    CounterTopType - rtype
    DrawerType - rtype
    FridgeType - rtype
    GarbageCanType - rtype
    MicrowaveType - rtype
    SinkBasinType - rtype
    StoveBurnerType - rtype
    Plate_bar_01 - object ; plate 1
    WineBottle_bar_01 - object ; winebottle 1
    Bowl_bar_01 - object ; bowl 1
    Glassbottle_bar_01 - object ; glassbottle 1
    Bread_bar_01 - object ; bread 1
    SaltShaker_bar_01 - object ; saltshaker 1
    Knife_bar_01 - object ; knife 1
    Apple_bar_01 - object ; apple 1
    Fork_bar_01 - object ; fork 1
    Spoon_bar_01 - object ; spoon 1
    Lettuce_bar_01 - object ; lettuce 1
    Egg_bar_01 - object ; egg 1
    Tomato_bar_01 - object ; tomato 1
    Kettle_bar_01 - object ; kettle 1
    Pan_bar_01 - object ; pan 1
    Cabinet_bar_06 - receptacle ; cabinet 1
    Cabinet_bar_05 - receptacle ; cabinet 2
    Cabinet_bar_04 - receptacle ; cabinet 3
    Cabinet_bar_03 - receptacle ; cabinet 4
    Cabinet_bar_02 - receptacle ; cabinet 5
    Cabinet_bar_01 - receptacle ; cabinet 6
    CounterTop_bar_03 - receptacle ; countertop 1
    CounterTop_bar_02 - receptacle ; countertop 2
    CounterTop_bar_01 - receptacle ; countertop 3
    Drawer_bar_03 - receptacle ; drawer 1
    Drawer_bar_02 - receptacle ; drawer 2
    Drawer_bar_01 - receptacle ; drawer 3
    Fridge_bar_01 - receptacle ; fridge 1
    GarbageCan_bar_01 - receptacle ; garbagecan 1
    Microwave_bar_01 - receptacle ; microwave 1
    Sink_bar_01_bar_SinkBasin - receptacle ; sinkbasin 1
    StoveBurner_bar_04 - receptacle ; stoveburner 1
    StoveBurner_bar_03 - receptacle ; stoveburner 2
    StoveBurner_bar_02 - receptacle ; stoveburner 3
    StoveBurner_bar_01 - receptacle ; stoveburner 4
    loc_bar_0_bar_0_bar_0_bar_30 - location ; where the agent starts
    loc_bar_1_bar_0_bar_0_bar_30 - location ; in front of cabinet 1
    loc_bar_2_bar_3_bar_90_bar_30 - location ; in front of cabinet 2
    loc_bar_3_bar_6_bar_180_bar_30 - location ; in front of cabinet 3
    loc_bar_4_bar_2_bar_270_bar_30 - location ; in front of cabinet 4
    loc_bar_5_bar_5_bar_0_bar_30 - location ; in front of cabinet 5
    loc_bar_6_bar_1_bar_90_bar_30 - location ; in front of cabinet 6
    loc_bar_7_bar_4_bar_180_bar_30 - location ; in front of countertop 1
    loc_bar_8_bar_0_bar_270_bar_30 - location ; in front of countertop 2
    loc_bar_9_bar_3_bar_0_bar_30 - location ; in front of countertop 3
    loc_bar_10_bar_6_bar_90_bar_30 - location ; in front of drawer 1
    loc_bar_11_bar_2_bar_180_bar_30 - location ; in front of drawer 2
    loc_bar_12_bar_5_bar_270_bar_30 - location ; in front of drawer 3
    loc_bar_13_bar_1_bar_0_bar_30 - location ; in front of fridge 1
    loc_bar_14_bar_4_bar_90_bar_30 - location ; in front of garbagecan 1
    loc_bar_15_bar_0_bar_180_bar_30 - location ; in front of microwave 1
    loc_bar_16_bar_3_bar_270_bar_30 - location ; in front of sinkbasin 1
    loc_bar_17_bar_6_bar_0_bar_30 - location ; in front of stoveburner 1
    loc_bar_18_bar_2_bar_90_bar_30 - location ; in front of stoveburner 2
    loc_bar_19_bar_5_bar_180_bar_30 - location ; in front of stoveburner 3
    loc_bar_20_bar_1_bar_270_bar_30 - location ; in front of stoveburner 4
)
(:init
    (receptacleType Cabinet_bar_06 CabinetType)
    (receptacleType Cabinet_bar_05 CabinetType)
    (receptacleType Cabinet_bar_04 CabinetType)
    (receptacleType Cabinet_bar_03 CabinetType)
    (receptacleType Cabinet_bar_02 CabinetType)
    (receptacleType Cabinet_bar_01 CabinetType)
    (receptacleType CounterTop_bar_03 CounterTopType)
    (receptacleType CounterTop_bar_02 CounterTopType)
    (receptacleType CounterTop_bar_01 CounterTopType)
    (receptacleType Drawer_bar_03 DrawerType)
    (receptacleType Drawer_bar_02 DrawerType)
    (receptacleType Drawer_bar_01 DrawerType)
    (receptacleType Fridge_bar_01 FridgeType)
    (receptacleType GarbageCan_bar_01 GarbageCanType)
    (receptacleType Microwave_bar_01 MicrowaveType)
    (receptacleType Sink_bar_01_bar_SinkBasin SinkBasinType)
    (receptacleType StoveBurner_bar_04 StoveBurnerType)
    (receptacleType StoveBurner_bar_03 StoveBurnerType)
    (receptacleType StoveBurner_bar_02 StoveBurnerType)
    (receptacleType StoveBurner_bar_01 StoveBurnerType)
    (objectType Plate_bar_01 PlateType)
    (objectType WineBottle_bar_01 WineBottleType)
    (objectType Bowl_bar_01 BowlType)
    (objectType Glassbottle_bar_01 GlassbottleType)
    (objectType Bread_bar_01 BreadType)
    (objectType SaltShaker_bar_01 SaltShakerType)
    (objectType Knife_bar_01 KnifeType)
    (objectType Apple_bar_01 AppleType)
    (objectType Fork_bar_01 ForkType)
    (objectType Spoon_bar_01 SpoonType)
    (objectType Lettuce_bar_01 LettuceType)
    (objectType Egg_bar_01 EggType)
    (objectType Tomato_bar_01 TomatoType)
    (objectType Kettle_bar_01 KettleType)
    (objectType Pan_bar_01 PanType)
    (canContain CabinetType BowlType)
    (canContain CabinetType GlassbottleType)
    (canContain CabinetType KettleType)
    (canContain CabinetType PanType)
    (canContain CabinetType PlateType)
    (canContain CabinetType SaltShakerType)
    (canContain CabinetType WineBottleType)
    (canContain CounterTopType AppleType)
    (canContain CounterTopType BowlType)
    (canContain CounterTopType BreadType)
    (canContain CounterTopType EggType)
    (canContain CounterTopType ForkType)
    (canContain CounterTopType GlassbottleType)
    (canContain CounterTopType KettleType)
    (canContain CounterTopType KnifeType)
    (canContain CounterTopType LettuceType)
    (canContain CounterTopType PanType)
    (canContain CounterTopType PlateType)
    (canContain CounterTopType SaltShakerType)
    (canContain CounterTopType SpoonType)
    (canContain CounterTopType TomatoType)
    (canContain CounterTopType WineBottleType)
    (canContain DrawerType ForkType)
    (canContain DrawerType KnifeType)
    (canContain DrawerType SaltShakerType)
    (canContain DrawerType SpoonType)
    (canContain FridgeType AppleType)
    (canContain FridgeType BowlType)
    (canContain FridgeType BreadType)
    (canContain FridgeType EggType)
    (canContain FridgeType GlassbottleType)
    (canContain FridgeType LettuceType)
    (canContain FridgeType PanType)
    (canContain FridgeType PlateType)
    (canContain FridgeType TomatoType)
    (canContain FridgeType WineBottleType)
    (canContain GarbageCanType AppleType)
    (canContain GarbageCanType BreadType)
    (canContain GarbageCanType EggType)
    (canContain GarbageCanType LettuceType)
    (canContain GarbageCanType TomatoType)
    (canContain GarbageCanType WineBottleType)
    (canContain MicrowaveType AppleType)
    (canContain MicrowaveType BowlType)
    (canContain MicrowaveType BreadType)
    (canContain MicrowaveType EggType)
    (canContain MicrowaveType GlassbottleType)
    (canContain MicrowaveType PlateType)
    (canContain MicrowaveType TomatoType)
    (canContain SinkBasinType AppleType)
    (canContain SinkBasinType BowlType)
    (canContain SinkBasinType EggType)
    (canContain SinkBasinType ForkType)
    (canContain SinkBasinType GlassbottleType)
    (canContain SinkBasinType KettleType)
    (canContain SinkBasinType KnifeType)
    (canContain SinkBasinType LettuceType)
    (canContain SinkBasinType PanType)
    (canContain SinkBasinType PlateType)
    (canContain SinkBasinType SpoonType)
    (canContain SinkBasinType TomatoType)
    (canContain StoveBurnerType KettleType)
    (canContain StoveBurnerType PanType)
    (pickupable Plate_bar_01)
    (pickupable WineBottle_bar_01)
    (pickupable Bowl_bar_01)
    (pickupable Glassbottle_bar_01)
    (pickupable Bread_bar_01)
    (pickupable SaltShaker_bar_01)
    (pickupable Knife_bar_01)
    (pickupable Apple_bar_01)
    (pickupable Fork_bar_01)
    (pickupable Spoon_bar_01)
    (pickupable Lettuce_bar_01)
    (pickupable Egg_bar_01)
    (pickupable Tomato_bar_01)
    (pickupable Kettle_bar_01)
    (pickupable Pan_bar_01)
    (isReceptacleObject Plate_bar_01)
    (isReceptacleObject Bowl_bar_01)
    (isReceptacleObject Pan_bar_01)
    (openable Cabinet_bar_06)
    (openable Cabinet_bar_05)
    (openable Cabinet_bar_04)
    (openable Cabinet_bar_03)
    (openable Cabinet_bar_02)
    (openable Cabinet_bar_01)
    (openable Drawer_bar_03)
    (openable Drawer_bar_02)
    (openable Drawer_bar_01)
    (openable Fridge_bar_01)
    (openable Microwave_bar_01)
    (atLocation agent1 loc_bar_0_bar_0_bar_0_bar_30)
    (cleanable Plate_bar_01)
    (cleanable Bowl_bar_01)
    (cleanable Knife_bar_01)
    (cleanable Apple_bar_01)
    (cleanable Fork_bar_01)
    (cleanable Spoon_bar_01)
    (cleanable Lettuce_bar_01)
    (cleanable Egg_bar_01)
    (cleanable Tomato_bar_01)
    (cleanable Kettle_bar_01)
    (cleanable Pan_bar_01)
    (heatable Plate_bar_01)
    (heatable Bread_bar_01)
    (heatable Apple_bar_01)
    (heatable Egg_bar_01)
    (heatable Tomato_bar_01)
    (coolable Plate_bar_01)
    (coolable WineBottle_bar_01)
    (coolable Bowl_bar_01)
    (coolable Bread_bar_01)
    (coolable Apple_bar_01)
    (coolable Lettuce_bar_01)
    (coolable Egg_bar_01)
    (coolable Tomato_bar_01)
    (coolable Pan_bar_01)
    (isCool Lettuce_bar_01)
    (isCool Egg_bar_01)
    (sliceable Bread_bar_01)
    (sliceable Apple_bar_01)
    (sliceable Lettuce_bar_01)
    (sliceable Egg_bar_01)
    (sliceable Tomato_bar_01)
    (inReceptacle Plate_bar_01 Cabinet_bar_05)
    (inReceptacle WineBottle_bar_01 Cabinet_bar_03)
    (inReceptacle Bowl_bar_01 Cabinet_bar_02)
    (inReceptacle Glassbottle_bar_01 Cabinet_bar_01)
    (inReceptacle Bread_bar_01 CounterTop_bar_03)
    (inReceptacle SaltShaker_bar_01 CounterTop_bar_03)
    (inReceptacle Knife_bar_01 CounterTop_bar_02)
    (inReceptacle Apple_bar_01 CounterTop_bar_01)
    (inReceptacle Fork_bar_01 Drawer_bar_02)
    (inReceptacle Spoon_bar_01 Drawer_bar_01)
    (inReceptacle Lettuce_bar_01 Fridge_bar_01)
    (inReceptacle Egg_bar_01 Fridge_bar_01)
    (inReceptacle Tomato_bar_01 GarbageCan_bar_01)
    (inReceptacle Kettle_bar_01 StoveBurner_bar_04)
    (inReceptacle Pan_bar_01 StoveBurner_bar_02)
    (receptacleAtLocation Cabinet_bar_06 loc_bar_1_bar_0_bar_0_bar_30)
    (receptacleAtLocation Cabinet_bar_05 loc_bar_2_bar_3_bar_90_bar_30)
    (receptacleAtLocation Cabinet_bar_04 loc_bar_3_bar_6_bar_180_bar_30)
    (receptacleAtLocation Cabinet_bar_03 loc_bar_4_bar_2_bar_270_bar_30)
    (receptacleAtLocation Cabinet_bar_02 loc_bar_5_bar_5_bar_0_bar_30)
    (receptacleAtLocation Cabinet_bar_01 loc_bar_6_bar_1_bar_90_bar_30)
    (receptacleAtLocation CounterTop_bar_03 loc_bar_7_bar_4_bar_180_bar_30)
    (receptacleAtLocation CounterTop_bar_02 loc_bar_8_bar_0_bar_270_bar_30)
    (receptacleAtLocation CounterTop_bar_01 loc_bar_9_bar_3_bar_0_bar_30)
    (receptacleAtLocation Drawer_bar_03 loc_bar_10_bar_6_bar_90_bar_30)
    (receptacleAtLocation Drawer_bar_02 loc_bar_11_bar_2_bar_180_bar_30)
    (receptacleAtLocation Drawer_bar_01 loc_bar_12_bar_5_bar_270_bar_30)
    (receptacleAtLocation Fridge_bar_01 loc_bar_13_bar_1_bar_0_bar_30)
    (receptacleAtLocation GarbageCan_bar_01 loc_bar_14_bar_4_bar_90_bar_30)
    (receptacleAtLocation Microwave_bar_01 loc_bar_15_bar_0_bar_180_bar_30)
    (receptacleAtLocation Sink_bar_01_bar_SinkBasin loc_bar_16_bar_3_bar_270_bar_30)
    (receptacleAtLocation StoveBurner_bar_04 loc_bar_17_bar_6_bar_0_bar_30)
    (receptacleAtLocation StoveBurner_bar_03 loc_bar_18_bar_2_bar_90_bar_30)
    (receptacleAtLocation StoveBurner_bar_02 loc_bar_19_bar_5_bar_180_bar_30)
    (receptacleAtLocation StoveBurner_bar_01 loc_bar_20_bar_1_bar_270_bar_30)
    (objectAtLocation Plate_bar_01 loc_bar_2_bar_3_bar_90_bar_30)
    (objectAtLocation WineBottle_bar_01 loc_bar_4_bar_2_bar_270_bar_30)
    (objectAtLocation Bowl_bar_01 loc_bar_5_bar_5_bar_0_bar_30)
    (objectAtLocation Glassbottle_bar_01 loc_bar_6_bar_1_bar_90_bar_30)
    (objectAtLocation Bread_bar_01 loc_bar_7_bar_4_bar_180_bar_30)
    (objectAtLocation SaltShaker_bar_01 loc_bar_7_bar_4_bar_180_bar_30)
    (objectAtLocation Knife_bar_01 loc_bar_8_bar_0_bar_270_bar_30)
    (objectAtLocation Apple_bar_01 loc_bar_9_bar_3_bar_0_bar_30)
    (objectAtLocation Fork_bar_01 loc_bar_11_bar_2_bar_180_bar_30)
    (objectAtLocation Spoon_bar_01 loc_bar_12_bar_5_bar_270_bar_30)
    (objectAtLocation Lettuce_bar_01 loc_bar_13_bar_1_bar_0_bar_30)
    (objectAtLocation Egg_bar_01 loc_bar_13_bar_1_bar_0_bar_30)
    (objectAtLocation Tomato_bar_01 loc_bar_14_bar_4_bar_90_bar_30)
    (objectAtLocation Kettle_bar_01 loc_bar_17_bar_6_bar_0_bar_30)
    (objectAtLocation Pan_bar_01 loc_bar_19_bar_5_bar_180_bar_30)
)
(:goal (exists (?r - receptacle ?o - object) (and (coolable ?o) (isCool ?o) (objectType ?o WineBottleType) (receptacleType ?r CounterTopType) (inReceptacle ?o ?r))))
)
